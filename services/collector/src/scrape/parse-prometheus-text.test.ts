import { describe, expect, it } from 'vitest';
import { ExpositionParseError, parsePrometheusText } from './parse-prometheus-text.ts';

const EXPOSITION = String.raw`# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A normal comment.
# TYPE temperature_celsius gauge
temperature_celsius -3.5e1
temperature_celsius{room="lab"} NaN
# TYPE pressure gauge
pressure{sensor="a"} +Inf
pressure{sensor="b"} -Inf
pressure{sensor="c"} 1.5
# HELP msdos_file_access_time_seconds Escapes in label values.
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.99",} 76656
rpc_duration_seconds{quantile="0.999"} NaN
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
metric_without_timestamp_and_labels 12.47
`;

describe('parsePrometheusText', () => {
  const parsed = parsePrometheusText(EXPOSITION);
  const find = (name: string, labels: Record<string, string> = {}) => parsed.samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels));

  it('reads counters with labels and timestamps', () => {
    expect(find('http_requests_total', { method: 'post', code: '200' })).toEqual({ name: 'http_requests_total', labels: { method: 'post', code: '200' }, value: 1027, timestampMs: 1395066363000 });
    expect(find('http_requests_total', { method: 'post', code: '400' })?.value).toBe(3);
    expect(parsed.types.get('http_requests_total')).toBe('counter');
  });

  it('reads gauges, including exponents and signs', () => {
    expect(find('temperature_celsius')?.value).toBe(-35);
    expect(find('pressure', { sensor: 'c' })?.value).toBe(1.5);
    expect(find('metric_without_timestamp_and_labels')).toEqual({ name: 'metric_without_timestamp_and_labels', labels: {}, value: 12.47 });
  });

  it('reads histograms as _bucket{le}, _sum and _count samples', () => {
    expect(parsed.types.get('http_request_duration_seconds')).toBe('histogram');
    const buckets = parsed.samples.filter((s) => s.name === 'http_request_duration_seconds_bucket');
    expect(buckets.map((b) => [b.labels.le, b.value])).toEqual([['0.05', 24054], ['0.1', 33444], ['+Inf', 144320]]);
    expect(find('http_request_duration_seconds_sum')?.value).toBe(53423);
    expect(find('http_request_duration_seconds_count')?.value).toBe(144320);
  });

  it('reads summaries as quantile, _sum and _count samples (a trailing comma in the labels is allowed)', () => {
    expect(parsed.types.get('rpc_duration_seconds')).toBe('summary');
    expect(find('rpc_duration_seconds', { quantile: '0.5' })?.value).toBe(4773);
    expect(find('rpc_duration_seconds', { quantile: '0.99' })?.value).toBe(76656);
    expect(find('rpc_duration_seconds_sum')?.value).toBe(17560473);
    expect(find('rpc_duration_seconds_count')?.value).toBe(2693);
  });

  it('unescapes backslash, quote and newline in label values', () => {
    const sample = parsed.samples.find((s) => s.name === 'msdos_file_access_time_seconds')!;
    expect(sample.labels).toEqual({ path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
    expect(sample.value).toBe(1.458255915e9);
  });

  it('keeps other backslashes as written, and refuses a value whose closing quote is escaped away', () => {
    expect(parsePrometheusText(String.raw`m{a="x\ty\\",b="\"q\"\n"} 1`).samples[0]!.labels).toEqual({ a: 'x\\ty\\', b: '"q"\n' });
    expect(() => parsePrometheusText(String.raw`m{a="x\"} 1`)).toThrow(/unterminated value of label a/);
  });

  it('holds long label values without growing them a character at a time (a hostile target’s half-million took gigabytes)', () => {
    const body = Array.from({ length: 20_000 }, (_, i) => `m{l="${'v'.repeat(100)}",i="${i}"} 1`).join('\n');
    const before = process.memoryUsage().heapUsed;
    const result = parsePrometheusText(body);
    const grown = process.memoryUsage().heapUsed - before;
    expect(result.samples).toHaveLength(20_000);
    // The body is 2.4 MB; a value grown a character at a time held about 30 bytes a character, some 60 MB.
    expect(grown).toBeLessThan(30 * 1024 * 1024);
  });

  it('unescapes a long value of escapes in time linear in its length (searching for the quote after every escape took 0.87 s for 640 KB)', () => {
    const escapes = `${String.raw`\n`.repeat(320_000)}${String.raw`\"x\\`.repeat(3)}`;
    const line = `m{a="${escapes}",b="after"} 1`;
    const started = performance.now();
    const [sample] = parsePrometheusText(line).samples;
    expect(performance.now() - started).toBeLessThan(200);
    expect(sample!.labels).toEqual({ a: `${'\n'.repeat(320_000)}${'"x\\'.repeat(3)}`, b: 'after' });
    expect(() => parsePrometheusText(`m{a="${escapes}\\"} 1`)).toThrow(/unterminated value of label a/);
  });

  it('refuses a long run of digits ending in a bad character at once, quoting only its start (an ambiguous pattern took minutes for a million)', () => {
    const parse = () => parsePrometheusText(`m ${'1'.repeat(100_000)}x\n`);
    const started = performance.now();
    expect(parse).toThrow(ExpositionParseError);
    expect(performance.now() - started).toBeLessThan(200);
    expect(parse).toThrow(/^line 1: bad value "1{64}… \(99937 more characters\)"$/);
  });

  it('reads the floats it read before, and refuses what is no float', () => {
    const value = (raw: string) => parsePrometheusText(`m ${raw}`).samples[0]?.value;
    expect(['1', '1.', '.5', '+1.5', '-2.5e3', '1E+2', '7.e-1', '007'].map(value)).toEqual([1, 1, 0.5, 1.5, -2500, 100, 0.7, 7]);
    for (const raw of ['NaN', 'nan', '+Inf', 'Inf', '-inf']) expect(parsePrometheusText(`m ${raw}`).nonFinite, raw).toBe(1);
    for (const bad of ['.', '+', '1e', 'e1', '1.2.3', '--1', '1e2.5', '.e1', 'Infinity', '1_000']) expect(() => parsePrometheusText(`m ${bad}`), bad).toThrow(/bad value/);
  });

  it('drops NaN and ±Inf values and counts them', () => {
    expect(parsed.nonFinite).toBe(4);
    expect(parsed.samples.every((s) => Number.isFinite(s.value))).toBe(true);
    expect(find('temperature_celsius', { room: 'lab' })).toBeUndefined();
    expect(find('pressure', { sensor: 'a' })).toBeUndefined();
    expect(find('rpc_duration_seconds', { quantile: '0.999' })).toBeUndefined();
    expect(parsed.samples).toHaveLength(15);
  });

  it('keeps label values with braces, commas and " # " intact, and ignores OpenMetrics exemplars and # EOF', () => {
    const text = 'a_total{path="/x{1},y # z"} 5 # {trace_id="abc"} 1.0\n# EOF\nafter_eof 1\n';
    expect(parsePrometheusText(text).samples).toEqual([{ name: 'a_total', labels: { path: '/x{1},y # z' }, value: 5 }]);
  });

  it('reads OpenMetrics when told: its timestamps are seconds, its own types are read as untyped and gauges', () => {
    const text = [
      '# TYPE build info',
      'build_info{version="1.2.3"} 1',
      '# TYPE feature stateset',
      'feature{feature="a"} 1',
      '# TYPE queue_bytes gaugehistogram',
      'queue_bytes_bucket{le="+Inf"} 5',
      'queue_bytes_gcount 5',
      '# TYPE mystery unknown',
      'mystery 7 1700000000',
      '# TYPE jobs counter',
      'jobs_total 12 1700000000.25 # {trace_id="abc"} 1 1700000000.1',
      '# EOF',
    ].join('\n');
    const { samples, types } = parsePrometheusText(text, Number.POSITIVE_INFINITY, 'openmetrics');
    expect(Object.fromEntries(types)).toEqual({ build: 'gauge', feature: 'gauge', queue_bytes: 'gauge', mystery: 'untyped', jobs: 'counter' });
    expect(samples.map((s) => [s.name, s.value, s.timestampMs])).toEqual([
      ['build_info', 1, undefined],
      ['feature', 1, undefined],
      ['queue_bytes_bucket', 5, undefined],
      ['queue_bytes_gcount', 5, undefined],
      ['mystery', 7, 1_700_000_000_000],
      ['jobs_total', 12, 1_700_000_000_250],
    ]);
    // The text format has no such types, and its timestamps are milliseconds.
    expect(() => parsePrometheusText('# TYPE build info\nbuild_info 1\n')).toThrow(/^line 1: unknown metric type "info"/);
    expect(parsePrometheusText('m 1 1700000000250').samples[0]!.timestampMs).toBe(1_700_000_000_250);
  });

  it('reads blanks between a name and its labels in the text format, as Prometheus does, and not in OpenMetrics', () => {
    expect(parsePrometheusText('up {job="a"} 1\nup\t{job="b"} 0\n').samples).toEqual([
      { name: 'up', labels: { job: 'a' }, value: 1 },
      { name: 'up', labels: { job: 'b' }, value: 0 },
    ]);
    expect(() => parsePrometheusText('up {job="a"} 1\n# EOF\n', Number.POSITIVE_INFINITY, 'openmetrics')).toThrow(ExpositionParseError);
  });

  it('refuses malformed lines, naming the line', () => {
    for (const bad of ['x{a="1"', 'x{a=1} 2', 'x 1 2 3', 'x abc', '9x 1', 'x{a="1",a="2"} 3', 'x 0x10', '# TYPE x colour']) {
      expect(() => parsePrometheusText(`ok 1\n${bad}\n`), bad).toThrow(ExpositionParseError);
    }
    expect(() => parsePrometheusText('ok 1\nx{a="1"\n')).toThrow(/^line 2:/);
  });

  it('reads labels named as an object\'s own properties like any other', () => {
    expect(parsePrometheusText('x{constructor="a",toString="b",hasOwnProperty="c"} 1\n').samples[0]!.labels).toEqual({ constructor: 'a', toString: 'b', hasOwnProperty: 'c' });
  });

  it('stops reading past the most samples it may take, naming the line and the setting', () => {
    expect(parsePrometheusText('a 1\nb 2\n', 2).samples).toHaveLength(2);
    expect(() => parsePrometheusText('a 1\nb 2\nc 3\nd 4\n', 2)).toThrow(/^line 3: more than 2 samples \(collection\.scrapeLimits\.samples\)/);
  });
});
