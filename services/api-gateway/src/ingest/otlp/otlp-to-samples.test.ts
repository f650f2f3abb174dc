import { describe, expect, it } from 'vitest';
import { IngestSampleSchema } from '@terminusa/bus';
import { BodyTooLargeError, SampleBudget } from '../decoded-samples.ts';
import { decodeOtlpMetrics } from './decode-otlp.ts';
import { ExportMetricsServiceRequestType } from './otlp-proto.ts';

/** The processor's default tag limits (ingest.maxTags, ingest.maxTagValueLength). */
const TAGS = { maxTags: 32, maxTagValueLength: 256 };

/** Epoch ms of the test's points, and the same time as OTLP writes it (nanoseconds, a decimal string in JSON). */
const T = 1_700_000_000_000;
const ns = (ms: number) => `${ms}000000`;

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
const RESOURCE = { attributes: [str('service.name', 'matchmaker'), str('service.namespace', 'game'), str('service.instance.id', 'eu-1'), str('host.name', 'node-7'), str('telemetry.sdk.language', 'nodejs')] };
const ID = { job: 'game/matchmaker', instance: 'eu-1' };

type Json = Record<string, unknown>;
const request = (metrics: Json[], resource: Json = RESOURCE) => ({ resourceMetrics: [{ resource, scopeMetrics: [{ scope: { name: 'game', version: '1.0' }, metrics }] }] });

/**
 * The samples of an OTLP/JSON request, and the same request in protobuf must give the same: the protobuf bytes are
 * made by protobufjs' fromObject, not by the ProtoJSON reader the gateway parses JSON with.
 */
function decode(body: Json) {
  const json = decodeOtlpMetrics(Buffer.from(JSON.stringify(body)), 'json', new SampleBudget(100_000), TAGS);
  const protobuf = decodeOtlpMetrics(ExportMetricsServiceRequestType.encode(ExportMetricsServiceRequestType.fromObject(body)).finish(), 'protobuf', new SampleBudget(100_000), TAGS);
  expect(protobuf).toEqual(json);
  return json;
}
/** The samples of `decode` but target_info. */
const data = (body: Json) => {
  const { samples, dropped } = decode(body);
  return { samples: samples.filter((s) => s.name !== 'target_info'), dropped };
};

describe('OTLP metrics to samples', () => {
  it('makes only samples the pipeline takes from attributes it reserves: __name__ is the metric’s, __x and tmon_ns prefixed', () => {
    const resource = { attributes: [...RESOURCE.attributes, str('__name__', 'other'), str('tmon_ns', 'theirs')] };
    const body = request([{ name: 'game.queue', unit: '', gauge: { dataPoints: [{ attributes: [str('__name__', 'x'), str('__internal', 'y')], timeUnixNano: ns(T), asInt: '3' }] } }], resource);
    const { samples } = decode(body);
    for (const sample of samples) expect(IngestSampleSchema.safeParse(sample).success, JSON.stringify(sample)).toBe(true);
    expect(samples.find((s) => s.name === 'game_queue')).toEqual({ name: 'game_queue', value: 3, ts: T, tags: { ...ID, key__internal: 'y' } });
    expect(samples.find((s) => s.name === 'target_info')?.tags).toMatchObject({ key_tmon_ns: 'theirs' });
  });

  it('maps gauges, with the unit in the name, ratio for unit 1 and int or double values', () => {
    const body = request([
      { name: 'game.players.online', unit: '{player}', gauge: { dataPoints: [{ attributes: [str('zone', 'eu')], timeUnixNano: ns(T), asInt: '42' }] } },
      { name: 'cpu.utilization', unit: '1', gauge: { dataPoints: [{ timeUnixNano: ns(T + 1), asDouble: 0.25 }] } },
      { name: 'process.memory.usage', unit: 'By', gauge: { dataPoints: [{ timeUnixNano: ns(T + 2), asDouble: 1048576 }] } },
    ]);
    expect(data(body)).toEqual({
      samples: [
        { name: 'game_players_online', value: 42, ts: T, tags: { ...ID, zone: 'eu' } },
        { name: 'cpu_utilization_ratio', value: 0.25, ts: T + 1, tags: ID },
        { name: 'process_memory_usage_bytes', value: 1048576, ts: T + 2, tags: ID },
      ],
      dropped: {},
    });
  });

  it('maps cumulative sums to counters (_total) when monotonic and to gauges when not', () => {
    const body = request([
      { name: 'game.logins', unit: '{login}', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ attributes: [str('zone', 'eu')], startTimeUnixNano: ns(T - 60_000), timeUnixNano: ns(T), asInt: '7' }] } },
      { name: 'network.io', unit: 'By', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ timeUnixNano: ns(T), asDouble: 512 }] } },
      { name: 'game.queue.length', sum: { aggregationTemporality: 2, isMonotonic: false, dataPoints: [{ timeUnixNano: ns(T), asInt: '-3' }] } },
    ]);
    expect(data(body).samples).toEqual([
      { name: 'game_logins_total', value: 7, ts: T, tags: { ...ID, zone: 'eu' } },
      { name: 'network_io_bytes_total', value: 512, ts: T, tags: ID },
      { name: 'game_queue_length', value: -3, ts: T, tags: ID },
    ]);
  });

  it('stores each delta sum point as it is, under the name without _total, so sum_over_time adds them up', () => {
    const body = request([
      {
        name: 'http.requests',
        unit: '{request}',
        sum: {
          aggregationTemporality: 1,
          isMonotonic: true,
          dataPoints: [
            { startTimeUnixNano: ns(T - 10_000), timeUnixNano: ns(T), asInt: '3' },
            { startTimeUnixNano: ns(T), timeUnixNano: ns(T + 10_000), asInt: '4' },
          ],
        },
      },
      { name: 'balance.change', sum: { aggregationTemporality: 1, isMonotonic: false, dataPoints: [{ timeUnixNano: ns(T), asDouble: -2.5 }] } },
    ]);
    expect(data(body).samples).toEqual([
      { name: 'http_requests', value: 3, ts: T, tags: ID },
      { name: 'http_requests', value: 4, ts: T + 10_000, tags: ID },
      { name: 'balance_change', value: -2.5, ts: T, tags: ID },
    ]);
  });

  it('maps histograms to cumulative _bucket series with +Inf, _sum and _count; no _sum when the point has none', () => {
    const body = request([
      {
        name: 'game.match.duration',
        unit: 's',
        histogram: {
          aggregationTemporality: 2,
          dataPoints: [
            { attributes: [str('mode', 'ranked')], timeUnixNano: ns(T), count: '4', sum: 30.5, bucketCounts: ['1', '1', '1', '1'], explicitBounds: [1, 5, 10] },
            { attributes: [str('mode', 'casual')], timeUnixNano: ns(T), count: '2', bucketCounts: ['0', '2'], explicitBounds: [0.005] },
          ],
        },
      },
    ]);
    const ranked = { ...ID, mode: 'ranked' };
    const casual = { ...ID, mode: 'casual' };
    expect(data(body).samples).toEqual([
      { name: 'game_match_duration_seconds_bucket', value: 1, ts: T, tags: { ...ranked, le: '1' } },
      { name: 'game_match_duration_seconds_bucket', value: 2, ts: T, tags: { ...ranked, le: '5' } },
      { name: 'game_match_duration_seconds_bucket', value: 3, ts: T, tags: { ...ranked, le: '10' } },
      { name: 'game_match_duration_seconds_bucket', value: 4, ts: T, tags: { ...ranked, le: '+Inf' } },
      { name: 'game_match_duration_seconds_sum', value: 30.5, ts: T, tags: ranked },
      { name: 'game_match_duration_seconds_count', value: 4, ts: T, tags: ranked },
      { name: 'game_match_duration_seconds_bucket', value: 0, ts: T, tags: { ...casual, le: '0.005' } },
      { name: 'game_match_duration_seconds_bucket', value: 2, ts: T, tags: { ...casual, le: '+Inf' } },
      { name: 'game_match_duration_seconds_count', value: 2, ts: T, tags: casual },
    ]);
  });

  it('maps exponential histograms to classic buckets: zero and negative buckets under the zero threshold, bounds from scale and offset', () => {
    const body = request([
      {
        name: 'rpc.latency',
        unit: 'ms',
        exponentialHistogram: {
          aggregationTemporality: 2,
          dataPoints: [{ timeUnixNano: ns(T), count: '6', sum: 9.5, scale: 1, zeroCount: '1', zeroThreshold: 0, positive: { offset: 0, bucketCounts: ['2', '0', '2'] }, negative: { offset: 0, bucketCounts: ['1'] } }],
        },
      },
    ]);
    const b = (le: string, value: number) => ({ name: 'rpc_latency_milliseconds_bucket', value, ts: T, tags: { ...ID, le } });
    expect(data(body).samples).toEqual([
      b('0', 2),
      b('1.4142135623730951', 4),
      b('2', 4),
      b('2.8284271247461903', 6),
      b('+Inf', 6),
      { name: 'rpc_latency_milliseconds_sum', value: 9.5, ts: T, tags: ID },
      { name: 'rpc_latency_milliseconds_count', value: 6, ts: T, tags: ID },
    ]);
  });

  it('maps summaries to quantile series, _sum and _count', () => {
    const body = request([
      { name: 'db.query.time', unit: 'ms', summary: { dataPoints: [{ timeUnixNano: ns(T), count: '20', sum: 100, quantileValues: [{ quantile: 0.5, value: 3 }, { quantile: 0.99, value: 10 }] }] } },
    ]);
    expect(data(body).samples).toEqual([
      { name: 'db_query_time_milliseconds', value: 3, ts: T, tags: { ...ID, quantile: '0.5' } },
      { name: 'db_query_time_milliseconds', value: 10, ts: T, tags: { ...ID, quantile: '0.99' } },
      { name: 'db_query_time_milliseconds_sum', value: 100, ts: T, tags: ID },
      { name: 'db_query_time_milliseconds_count', value: 20, ts: T, tags: ID },
    ]);
  });

  it('makes data point attributes labels: sanitized, colliding names joined with ; in key order, empty values left out, job and instance winning', () => {
    const attributes = [str('http.method', 'GET'), str('http_method', 'POST'), str('1st', 'a'), str('_x', 'b'), str('empty', ''), str('job', 'mine'), { key: 'retries', value: { intValue: '2' } }, { key: 'cached', value: { boolValue: true } }];
    const body = request([{ name: 'x', gauge: { dataPoints: [{ attributes, timeUnixNano: ns(T), asDouble: 1 }] } }]);
    expect(data(body).samples[0]!.tags).toEqual({ ...ID, http_method: 'GET;POST', key_1st: 'a', key_x: 'b', retries: '2', cached: 'true' });
  });

  it('takes job from service.name alone and no instance without service.instance.id', () => {
    const body = request([{ name: 'up', gauge: { dataPoints: [{ timeUnixNano: ns(T), asInt: '1' }] } }], { attributes: [str('service.name', 'lobby')] });
    expect(decode(body).samples).toEqual([{ name: 'up', value: 1, ts: T, tags: { job: 'lobby' } }]);
  });

  it('writes one target_info per resource, at its latest point, with the resource attributes but those of job and instance', () => {
    const body = {
      resourceMetrics: [
        { resource: RESOURCE, scopeMetrics: [{ metrics: [{ name: 'a', gauge: { dataPoints: [{ timeUnixNano: ns(T + 5), asInt: '1' }, { timeUnixNano: ns(T), asInt: '2' }] } }] }, { metrics: [{ name: 'b', gauge: { dataPoints: [{ timeUnixNano: ns(T + 9), asInt: '3' }] } }] }] },
        { resource: { attributes: [str('service.name', 'chat'), str('service.instance.id', 'c-1')] }, scopeMetrics: [{ metrics: [{ name: 'c', gauge: { dataPoints: [{ timeUnixNano: ns(T), asInt: '1' }] } }] }] },
        { resource: { attributes: [str('host.name', 'lonely')] }, scopeMetrics: [{ metrics: [{ name: 'd', gauge: { dataPoints: [{ timeUnixNano: ns(T), asInt: '1' }] } }] }] },
      ],
    };
    const info = decode(body).samples.filter((s) => s.name === 'target_info');
    // The second resource has only job and instance and the third neither: Prometheus writes no target_info for them.
    expect(info).toEqual([{ name: 'target_info', value: 1, ts: T + 9, tags: { ...ID, host_name: 'node-7', telemetry_sdk_language: 'nodejs' } }]);
  });

  it('converts nanoseconds to milliseconds exactly, past what a double holds', () => {
    const body = request([{ name: 'x', gauge: { dataPoints: [{ timeUnixNano: '1700000000123999999', asInt: '1' }] } }]);
    expect(data(body).samples[0]!.ts).toBe(1_700_000_000_123);
  });

  it('writes a staleness marker for each series of a point flagged "no recorded value", as Prometheus does', () => {
    const body = request([
      { name: 'gone', gauge: { dataPoints: [{ timeUnixNano: ns(T), asDouble: 0, flags: 1 }, { timeUnixNano: ns(T + 1), asDouble: 5 }] } },
      { name: 'h', histogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(T), count: '1', sum: 1, bucketCounts: ['1', '0'], explicitBounds: [1], flags: 1 }] } },
    ]);
    expect(data(body)).toEqual({
      samples: [
        { name: 'gone', stale: true, ts: T, tags: ID },
        { name: 'gone', value: 5, ts: T + 1, tags: ID },
        { name: 'h_bucket', stale: true, ts: T, tags: { ...ID, le: '1' } },
        { name: 'h_bucket', stale: true, ts: T, tags: { ...ID, le: '+Inf' } },
        { name: 'h_sum', stale: true, ts: T, tags: ID },
        { name: 'h_count', stale: true, ts: T, tags: ID },
      ],
      dropped: {},
    });
    expect(decode(body).rejectedPoints).toBe(0);
  });

  it('leaves out and counts: non-finite values, no time, no temporality, no name', () => {
    const body = request([
      { name: 'gone', gauge: { dataPoints: [{ timeUnixNano: ns(T), asDouble: 5 }] } },
      { name: 'nan', gauge: { dataPoints: [{ timeUnixNano: ns(T), asDouble: 'NaN' }, { timeUnixNano: ns(T), asDouble: '-Infinity' }] } },
      { name: 'h2', histogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: ns(T), count: '0', sum: 'NaN' }] } },
      { name: 'timeless', gauge: { dataPoints: [{ asDouble: 1 }] } },
      { name: 'odd', sum: { isMonotonic: true, dataPoints: [{ timeUnixNano: ns(T), asDouble: 1 }, { timeUnixNano: ns(T), asDouble: 2 }] } },
      { name: '...', gauge: { dataPoints: [{ timeUnixNano: ns(T), asDouble: 1 }] } },
    ]);
    expect(data(body)).toEqual({
      samples: [
        { name: 'gone', value: 5, ts: T, tags: ID },
        { name: 'h2_bucket', value: 0, ts: T, tags: { ...ID, le: '+Inf' } },
        { name: 'h2_count', value: 0, ts: T, tags: ID },
      ],
      dropped: { non_finite: 3, no_timestamp: 1, unspecified_temporality: 2, invalid_name: 1 },
    });
    // Points, as OTLP's partial success counts them: nan 2, h2 1 (its sum), timeless 1, odd 2, '...' 1.
    expect(decode(body).rejectedPoints).toBe(7);
  });

  it('counts the samples a request makes against its budget before making any: an exponential histogram of 100,000 buckets', () => {
    const point = { timeUnixNano: ns(T), count: '1', sum: 1, scale: 20, zeroCount: '0', positive: { offset: 0, bucketCounts: Array.from({ length: 100_000 }, () => '0') } };
    const body = request([{ name: 'wide', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [point] } }]);
    const protobuf = ExportMetricsServiceRequestType.encode(ExportMetricsServiceRequestType.fromObject(body)).finish();
    // Its 100,000 buckets, the zero bucket, +Inf, _sum, _count and the resource's target_info, at most.
    expect(() => decodeOtlpMetrics(protobuf, 'protobuf', new SampleBudget(100_004), TAGS)).toThrow(BodyTooLargeError);
    expect(() => decodeOtlpMetrics(protobuf, 'protobuf', new SampleBudget(100_004), TAGS)).toThrow(/more than 100004 samples/);
    expect(decodeOtlpMetrics(protobuf, 'protobuf', new SampleBudget(100_005), TAGS).samples.length).toBeLessThanOrEqual(100_005);
  });

  it('leaves out, counted in samples, points whose labels the processor would refuse (a bucket’s `le` counted), and such a target_info', () => {
    // With job and instance, 33 labels; 30 of them make 32, to which buckets and quantiles add one.
    const many = Array.from({ length: 31 }, (_, i) => str(`a${i}`, 'v'));
    const fewer = many.slice(1);
    const body = request(
      [
        { name: 'wide', gauge: { dataPoints: [{ attributes: many, timeUnixNano: ns(T), asDouble: 1 }] } },
        { name: 'long', gauge: { dataPoints: [{ attributes: [str('path', 'x'.repeat(257))], timeUnixNano: ns(T), asDouble: 1 }] } },
        { name: 'nul', gauge: { dataPoints: [{ attributes: [str('path', 'a\u0000b')], timeUnixNano: ns(T), asDouble: 1 }] } },
        { name: 'h', histogram: { aggregationTemporality: 2, dataPoints: [{ attributes: fewer, timeUnixNano: ns(T), count: '1', sum: 1, explicitBounds: [1], bucketCounts: ['1', '0'] }] } },
        { name: 's', summary: { dataPoints: [{ attributes: fewer, timeUnixNano: ns(T), count: '1', sum: 1, quantileValues: [{ quantile: 0.5, value: 1 }] }] } },
        { name: 'kept', gauge: { dataPoints: [{ attributes: [...fewer.slice(1), str('path', 'x'.repeat(256))], timeUnixNano: ns(T), asDouble: 1 }] } },
      ],
      { attributes: [...RESOURCE.attributes, str('process.command_args', 'x'.repeat(300))] },
    );
    const tags = { ...ID, ...Object.fromEntries(fewer.slice(1).map((a) => [a.key, 'v'])), path: 'x'.repeat(256) };
    const decoded = decode(body);
    // target_info is left out too: its command line is over 256 characters.
    expect(decoded).toEqual({ samples: [{ name: 'kept', value: 1, ts: T, tags }], dropped: { invalid_label: 1 + 1 + 1 + 4 + 3 + 1 }, rejectedPoints: 5 });
  });

  it('counts the labels a point’s samples write out, once each, against the budget before making them: 7 KB over 10,003 samples', () => {
    const histogram = (attributes: Json[]) =>
      request([{ name: 'wide', histogram: { aggregationTemporality: 2, dataPoints: [{ attributes, timeUnixNano: ns(T), count: '0', sum: 0, explicitBounds: Array.from({ length: 10_000 }, (_, i) => i), bucketCounts: Array.from({ length: 10_001 }, () => '0') }] } }]);
    const encode = (body: Json) => ExportMetricsServiceRequestType.encode(ExportMetricsServiceRequestType.fromObject(body)).finish();
    // Labels within the limits (28 of 256 characters), 7 KB of them over 10,003 samples: 70 MB written out.
    const wide = encode(histogram(Array.from({ length: 28 }, (_, i) => str(`k${i}`, 'v'.repeat(256)))));
    expect(() => decodeOtlpMetrics(wide, 'protobuf', new SampleBudget(100_000), TAGS)).toThrow(BodyTooLargeError);
    expect(() => decodeOtlpMetrics(wide, 'protobuf', new SampleBudget(100_000), TAGS)).toThrow(/more than 25600000 bytes of tags written out once per sample/);
    // A name past 128 characters is left out, as the processor would refuse it.
    expect(decodeOtlpMetrics(encode(histogram([str('n'.repeat(60_000), 'x')])), 'protobuf', new SampleBudget(100_000), TAGS)).toMatchObject({ dropped: { invalid_label: 10_003 } });
    // A value over the limit is left out before anything is counted or made.
    expect(decodeOtlpMetrics(encode(histogram([str('path', 'x'.repeat(60_000))])), 'protobuf', new SampleBudget(100_000), TAGS)).toMatchObject({ samples: [expect.objectContaining({ name: 'target_info' })], dropped: { invalid_label: 10_003 } });
    expect(decodeOtlpMetrics(encode(histogram([str('path', '/lobby')])), 'protobuf', new SampleBudget(100_000), TAGS).samples).toHaveLength(10_004);
  });

  it('counts a protobuf body’s elements on the wire before decoding it: a million bucket counts that make no sample', () => {
    // Negative buckets of an exponential histogram fold into its lowest `le`: a million of them make no sample, and
    // decoded they were a million objects.
    const point = { timeUnixNano: ns(T), count: '1', sum: 1, scale: 0, zeroCount: '0', positive: { offset: 0, bucketCounts: ['1'] }, negative: { offset: 0, bucketCounts: Array.from({ length: 1_000_000 }, () => '0') } };
    const body = request([{ name: 'deep', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [point] } }]);
    const protobuf = ExportMetricsServiceRequestType.encode(ExportMetricsServiceRequestType.fromObject(body)).finish();
    expect(() => decodeOtlpMetrics(protobuf, 'protobuf', new SampleBudget(100_000), TAGS)).toThrow(/more than 400000 protobuf elements/);
    expect(decodeOtlpMetrics(protobuf, 'protobuf', new SampleBudget(300_000), TAGS).samples.length).toBeLessThan(10);
  });

  it('counts an OTLP/JSON body’s array elements before parsing it: the same million bucket counts', () => {
    const point = { timeUnixNano: ns(T), count: '1', sum: 1, scale: 0, zeroCount: '0', positive: { offset: 0, bucketCounts: ['1'] }, negative: { offset: 0, bucketCounts: Array.from({ length: 1_000_000 }, () => '0') } };
    const json = new TextEncoder().encode(JSON.stringify(request([{ name: 'deep', exponentialHistogram: { aggregationTemporality: 2, dataPoints: [point] } }])));
    expect(() => decodeOtlpMetrics(json, 'json', new SampleBudget(100_000), TAGS)).toThrow(/more than 400000 JSON array elements/);
    expect(decodeOtlpMetrics(json, 'json', new SampleBudget(300_000), TAGS).samples.length).toBeLessThan(10);
  });

  it('takes an empty request and resources without metrics', () => {
    expect(decode({})).toEqual({ samples: [], dropped: {}, rejectedPoints: 0 });
    expect(decode({ resourceMetrics: [{ resource: RESOURCE }, { scopeMetrics: [{ metrics: [{ name: 'nothing' }] }] }] })).toEqual({ samples: [], dropped: {}, rejectedPoints: 0 });
  });
});
