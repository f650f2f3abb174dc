import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { useIngestDoor } from '../../../test-support/ingest-door.ts';
import { ExportMetricsServiceRequestType, ExportMetricsServiceResponseType } from './otlp-proto.ts';

const str = (key: string, value: string) => ({ key, value: { stringValue: value } });

/** An OTLP/JSON request of one gauge point per value, from service `lobby` instance `l-1`. */
function request(name: string, values: number[], at: number) {
  const dataPoints = values.map((v, i) => ({ attributes: [str('room', `r${i}`)], timeUnixNano: `${at}000000`, asDouble: v }));
  return { resourceMetrics: [{ resource: { attributes: [str('service.name', 'lobby'), str('service.instance.id', 'l-1')] }, scopeMetrics: [{ metrics: [{ name, unit: '{player}', gauge: { dataPoints } }] }] }] };
}
const protobuf = (body: object) => Buffer.from(ExportMetricsServiceRequestType.encode(ExportMetricsServiceRequestType.fromObject(body)).finish());

describe('POST /v1/metrics', () => {
  const door = useIngestDoor('otel-eu');
  const post = (body: Uint8Array | string, type: string, headers: Record<string, string> = {}, key: string | null = door.producerKey) =>
    fetch(`${door.suite.base}/v1/metrics`, { method: 'POST', headers: { 'content-type': type, ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers }, body });
  const { ingestMessages } = door;
  const lastMessage = async () => ({ samples: await door.lastSamples() });

  it('takes protobuf once: 200 with an empty protobuf response, the samples in INGEST under the key name, a retry (gzip or not) not stored twice', async () => {
    const now = Date.now();
    const body = protobuf(request('lobby.players', [3, 5], now));
    const before = await ingestMessages();
    const res = await post(body, 'application/x-protobuf');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    expect(await ingestMessages()).toBe(before + 1);
    expect(await lastMessage()).toEqual({
      samples: [0, 1].map((i) => ({ name: 'lobby_players', value: [3, 5][i], ts: now, tags: { job: 'lobby', instance: 'l-1', room: `r${i}` } })),
    });

    expect((await post(body, 'application/x-protobuf')).status).toBe(200);
    expect((await post(gzipSync(body), 'application/x-protobuf', { 'content-encoding': 'gzip' })).status).toBe(200);
    expect(await ingestMessages()).toBe(before + 1);
  });

  it('takes JSON, gzip or not, past the JSON parser of the other routes: 200 with {}', async () => {
    const now = Date.now();
    const res = await post(JSON.stringify(request('lobby.queue', [7], now)), 'application/json; charset=utf-8');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({});
    expect((await lastMessage()).samples).toEqual([{ name: 'lobby_queue', value: 7, ts: now, tags: { job: 'lobby', instance: 'l-1', room: 'r0' } }]);

    const zipped = await post(gzipSync(JSON.stringify(request('lobby.queue', [8], now + 1))), 'application/json', { 'content-encoding': 'gzip' });
    expect(zipped.status).toBe(200);
    expect((await lastMessage()).samples).toEqual([{ name: 'lobby_queue', value: 8, ts: now + 1, tags: { job: 'lobby', instance: 'l-1', room: 'r0' } }]);
  });

  it('answers 415 to another content type or encoding, 400 with the reason to an undecodable body, 413 to a bomb', async () => {
    const detail = async (res: Response) => ((await res.json()) as { detail: string }).detail;
    const text = await post('up 1', 'text/plain');
    expect(text.status).toBe(415);
    expect(await detail(text)).toMatch(/Content-Type must be application\/x-protobuf or application\/json, got text\/plain/);
    const brotli = await post('{}', 'application/json', { 'content-encoding': 'br' });
    expect(brotli.status).toBe(415);
    expect(await detail(brotli)).toMatch(/Content-Encoding must be gzip or none, got br/);

    const json = await post('{"resourceMetrics": {}}', 'application/json');
    expect(json.status).toBe(400);
    expect(await detail(json)).toMatch(/not an OTLP ExportMetricsServiceRequest in JSON: .*resourceMetrics: expected array/);
    const proto = await post(Buffer.from([0x0a, 0x05, 0x0a]), 'application/x-protobuf');
    expect(proto.status).toBe(400);
    expect(await detail(proto)).toMatch(/in protobuf/);
    const notGzip = await post('{}', 'application/json', { 'content-encoding': 'gzip' });
    expect(notGzip.status).toBe(400);
    expect(await detail(notGzip)).toMatch(/not gzip/);

    // A few KiB that decompress past ingest.maxRequestBytes (16 MiB).
    const bomb = await post(gzipSync(Buffer.alloc(17 << 20, 0x20)), 'application/json', { 'content-encoding': 'gzip' });
    expect(bomb.status).toBe(413);
    expect(await detail(bomb)).toMatch(/once decompressed/);
  });

  it('stores the good points beside non-finite ones and reports the rest as a partial success, in either encoding', async () => {
    const now = Date.now();
    const res = await post(JSON.stringify(request('lobby.mixed', [1, Number.NaN, 2], now)).replace('null', '"NaN"'), 'application/json');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ partialSuccess: { rejectedDataPoints: '1', errorMessage: expect.stringMatching(/^1 data points not stored in full \(samples left out: non_finite 1\)/) } });
    expect((await lastMessage()).samples).toEqual([0, 2].map((i) => ({ name: 'lobby_mixed', value: i === 0 ? 1 : 2, ts: now, tags: { job: 'lobby', instance: 'l-1', room: `r${i}` } })));

    const proto = await post(protobuf(request('lobby.mixed', [Number.POSITIVE_INFINITY, 3], now + 1)), 'application/x-protobuf');
    expect(proto.status).toBe(200);
    const answer = ExportMetricsServiceResponseType.toObject(ExportMetricsServiceResponseType.decode(new Uint8Array(await proto.arrayBuffer())), { longs: Number });
    expect(answer).toEqual({ partialSuccess: { rejectedDataPoints: 1, errorMessage: expect.stringContaining('non_finite 1') } });
    expect((await lastMessage()).samples).toEqual([{ name: 'lobby_mixed', value: 3, ts: now + 1, tags: { job: 'lobby', instance: 'l-1', room: 'r1' } }]);
  });

  it('refuses at once a point written out per bucket: labels the processor refuses left out, too many bytes of labels 413; a request beside is taken', async () => {
    const now = Date.now();
    // A histogram of 20,000 bounds (200 KB), each bucket a sample carrying the point's labels.
    const histogram = (attributes: object[]) => ({
      resourceMetrics: [
        {
          resource: { attributes: [str('service.name', 'lobby'), str('service.instance.id', 'l-1')] },
          scopeMetrics: [{ metrics: [{ name: 'lobby.wait', unit: 's', histogram: { aggregationTemporality: 2, dataPoints: [{ attributes, timeUnixNano: `${now}000000`, count: '0', sum: 0, explicitBounds: Array.from({ length: 20_000 }, (_, i) => i), bucketCounts: Array.from({ length: 20_001 }, () => '0') }] } }] }],
        },
      ],
    });
    const before = await ingestMessages();
    const started = performance.now();
    // Left out as the processor would refuse its 20,003 samples, and said so: 1.2 GB of messages.
    const long = await post(protobuf(histogram([str('room', 'x'.repeat(60_000))])), 'application/x-protobuf');
    expect(long.status).toBe(200);
    const answer = ExportMetricsServiceResponseType.toObject(ExportMetricsServiceResponseType.decode(new Uint8Array(await long.arrayBuffer())), { longs: Number });
    expect(answer).toEqual({ partialSuccess: { rejectedDataPoints: 1, errorMessage: expect.stringContaining('invalid_label 20003') } });
    // Labels within the limits (28 of 256 characters), but 7 KB of them over 20,003 samples: 413.
    const wide = await post(protobuf(histogram(Array.from({ length: 28 }, (_, i) => str(`k${i}`, 'v'.repeat(256))))), 'application/x-protobuf');
    expect(wide.status).toBe(413);
    expect(((await wide.json()) as { detail: string }).detail).toMatch(/more than 128000000 bytes of tags written out once per sample/);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(await ingestMessages()).toBe(before);

    expect((await post(protobuf(histogram([str('room', 'r1')])), 'application/x-protobuf')).status).toBe(200);
    expect((await lastMessage()).samples.at(-1)).toEqual({ name: 'lobby_wait_seconds_count', value: 0, ts: now, tags: { job: 'lobby', instance: 'l-1', room: 'r1' } });
  });

  it('answers 401 without a key and 403 to a reader', async () => {
    const body = protobuf(request('lobby.auth', [1], Date.now()));
    expect((await post(body, 'application/x-protobuf', {}, null)).status).toBe(401);
    expect((await post(body, 'application/x-protobuf', {}, door.viewerKey)).status).toBe(403);
  });
});
