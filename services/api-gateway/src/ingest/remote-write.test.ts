import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { compressSync } from 'snappy';
import { Bus, ensureConsumer } from '@terminusa/bus';
import { startSuite, waitFor } from '@terminusa/testkit';
import { WriteRequestType } from '@terminusa/metric-store';
import { BodyTooLargeError, SampleBudget } from './decoded-samples.ts';
import { decodeRemoteWrite, snappyLength } from './remote-write.ts';
import { useIngestDoor } from '../../test-support/ingest-door.ts';

/** Prometheus' staleness marker, as it sends it when a series disappears. */
const STALE_NAN = new DataView(new Uint8Array([0x7f, 0xf0, 0, 0, 0, 0, 0, 0x02]).buffer).getFloat64(0);

// Samples as objects, not [value, ts] pairs: V8 rewrites a NaN stored in an array of doubles to the plain NaN.
function writeRequest(series: { labels: Record<string, string>; samples: { value: number; timestamp: number }[] }[]): Buffer {
  const message = WriteRequestType.fromObject({ timeseries: series.map((s) => ({ labels: Object.entries(s.labels).map(([name, value]) => ({ name, value })), samples: s.samples })) });
  return compressSync(Buffer.from(WriteRequestType.encode(message).finish())) as Buffer;
}

describe('decodeRemoteWrite', () => {
  it('maps __name__ to the name and the other labels to tags, keeps staleness markers and leaves out other NaN and infinities', async () => {
    const body = writeRequest([
      { labels: { __name__: 'up', job: 'game', instance: 'eu-1:9100' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }, { value: STALE_NAN, timestamp: 1_700_000_015_000 }] },
      { labels: { __name__: 'ratio', job: 'game' }, samples: [{ value: NaN, timestamp: 1_700_000_000_000 }, { value: Infinity, timestamp: 1_700_000_000_001 }, { value: 0.5, timestamp: 1_700_000_000_002 }] },
    ]);
    expect(await decodeRemoteWrite(body, 1 << 20, new SampleBudget(1000))).toEqual({
      samples: [
        { name: 'up', value: 1, ts: 1_700_000_000_000, tags: { job: 'game', instance: 'eu-1:9100' } },
        { name: 'up', stale: true, ts: 1_700_000_015_000, tags: { job: 'game', instance: 'eu-1:9100' } },
        { name: 'ratio', value: 0.5, ts: 1_700_000_000_002, tags: { job: 'game' } },
      ],
      dropped: { non_finite: 2 },
    });
  });

  it('leaves out, counted, a series whose name the pipeline refuses and a timestamp past epoch milliseconds, keeping the rest', async () => {
    const body = writeRequest([
      { labels: { __name__: 'http.server.requests', job: 'a' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }, { value: 2, timestamp: 1_700_000_015_000 }] },
      { labels: { __name__: 'up', job: 'a' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }, { value: 1, timestamp: 2 ** 62 }] },
    ]);
    expect(await decodeRemoteWrite(body, 1 << 20, new SampleBudget(1000))).toEqual({
      samples: [{ name: 'up', value: 1, ts: 1_700_000_000_000, tags: { job: 'a' } }],
      dropped: { invalid_name: 2, invalid_timestamp: 1 },
    });
  });

  it('leaves out, counted, a series without a name or with a label name the pipeline refuses or gives twice, as Prometheus skips an invalid series', async () => {
    const body = writeRequest([
      { labels: { job: 'x' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }] },
      { labels: { __name__: 'up', 'http.method': 'GET' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }] },
      { labels: { __name__: 'up', __meta_x: 'a' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }] },
      { labels: { __name__: 'up', tmon_ns: 'other' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }] },
      // Left out too, not taken as the series without it: assigned to a plain object, the label would vanish.
      { labels: { __name__: 'up', ['__proto__']: 'a' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }] },
      { labels: { __name__: 'up', job: 'kept' }, samples: [{ value: 1, timestamp: 1_700_000_000_000 }] },
    ]);
    const twice = WriteRequestType.encode(
      WriteRequestType.fromObject({
        timeseries: [{ labels: [{ name: '__name__', value: 'up' }, { name: 'job', value: 'a' }, { name: 'job', value: 'b' }], samples: [{ value: 1, timestamp: 1_700_000_000_000 }] }],
      }),
    ).finish();
    expect(await decodeRemoteWrite(body, 1 << 20, new SampleBudget(1000))).toEqual({
      samples: [{ name: 'up', value: 1, ts: 1_700_000_000_000, tags: { job: 'kept' } }],
      dropped: { invalid_name: 1, invalid_label: 4 },
    });
    expect(await decodeRemoteWrite(compressSync(Buffer.from(twice)) as Buffer, 1 << 20, new SampleBudget(1000))).toEqual({ samples: [], dropped: { invalid_label: 1 } });
  });

  it('refuses a body that is not snappy, not a WriteRequest or is too large', async () => {
    await expect(decodeRemoteWrite(Buffer.from('not snappy at all'), 1 << 20, new SampleBudget(1000))).rejects.toThrow(/snappy/);
    await expect(decodeRemoteWrite(compressSync(Buffer.from([0xff, 0xff, 0xff])) as Buffer, 1 << 20, new SampleBudget(1000))).rejects.toThrow(/WriteRequest/);
    await expect(decodeRemoteWrite(writeRequest([{ labels: { __name__: 'big' }, samples: [{ value: 1, timestamp: 1 }] }]), 4, new SampleBudget(1000))).rejects.toThrow(BodyTooLargeError);
  });

  it('refuses a body declaring more than it takes before decompressing it, and one making more samples than a request may', async () => {
    const body = writeRequest([{ labels: { __name__: 'up' }, samples: [{ value: 1, timestamp: 1 }] }]);
    expect(snappyLength(body)).toBe(WriteRequestType.encode(WriteRequestType.fromObject({ timeseries: [{ labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 1, timestamp: 1 }] }] })).finish().length);
    // Six bytes that declare 4 GiB - 1: refused from the length alone (decompressing would allocate it first).
    const bomb = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    expect(snappyLength(bomb)).toBe(2 ** 32 - 1);
    await expect(decodeRemoteWrite(bomb, 16 << 20, new SampleBudget(1000))).rejects.toThrow(/decompresses to 4294967295 bytes, more than the 16777216 taken/);
    // 2,000 samples of two series against a budget of 1,500.
    const samples = Array.from({ length: 1000 }, (_, i) => ({ value: i, timestamp: i }));
    const many = writeRequest([{ labels: { __name__: 'a' }, samples }, { labels: { __name__: 'b' }, samples }]);
    await expect(decodeRemoteWrite(many, 1 << 20, new SampleBudget(1500))).rejects.toThrow(/more than 1500 samples, the most one request may \(ingest.maxSamplesPerRequest\)/);
    expect((await decodeRemoteWrite(many, 1 << 20, new SampleBudget(2000))).samples).toHaveLength(2000);
  });
});

describe('POST /api/v1/write', () => {
  const door = useIngestDoor('prom-eu');
  const post = (body: Uint8Array, key?: string, encoding = 'snappy', contentType = 'application/x-protobuf') =>
    fetch(`${door.suite.base}/api/v1/write`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'content-encoding': encoding, 'x-prometheus-remote-write-version': '0.1.0', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body,
    });
  const { ingestMessages } = door;

  it('takes a request once: 204, its samples in INGEST under the key name as source, and a retry stored no second time', async () => {
    const now = Date.now();
    const body = writeRequest(Array.from({ length: 3 }, (_, i) => ({ labels: { __name__: 'rw_players', zone: `z${i}` }, samples: [{ value: i, timestamp: now }] })));
    const before = await ingestMessages();
    expect((await post(body, door.producerKey)).status).toBe(204);
    expect(await ingestMessages()).toBe(before + 1);
    expect((await post(body, door.producerKey)).status).toBe(204);
    expect(await ingestMessages()).toBe(before + 1);

    expect(await door.lastSamples()).toEqual([0, 1, 2].map((i) => ({ name: 'rw_players', value: i, ts: now, tags: { zone: `z${i}` } })));
  });

  it('answers 400 with the reason for a body no retry can fix, 401 without a key and 403 to a reader', async () => {
    const bad = await post(Buffer.from('garbage'), door.producerKey);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { detail: string }).detail).toMatch(/snappy/);
    // Another encoding is 415, as Prometheus' receiver answers it; no header at all is taken as snappy, as there.
    const zstd = await post(Buffer.from('x'), door.producerKey, 'zstd');
    expect(zstd.status).toBe(415);
    expect(((await zstd.json()) as { detail: string }).detail).toMatch(/Content-Encoding must be snappy/);
    const good = writeRequest([{ labels: { __name__: 'rw_auth' }, samples: [{ value: 1, timestamp: Date.now() }] }]);
    expect((await post(good)).status).toBe(401);
    expect((await post(good, door.viewerKey)).status).toBe(403);
    // A remote-write 2.0 request decodes as an empty 1.0 one: refused 415, nothing published, not answered 204 and lost.
    const before = await ingestMessages();
    const v2 = await post(good, door.producerKey, 'snappy', 'application/x-protobuf;proto=io.prometheus.write.v2.Request');
    expect(v2.status).toBe(415);
    expect(((await v2.json()) as { detail: string }).detail).toMatch(/only remote-write 1.0 .* got io.prometheus.write.v2.Request/);
    expect((await post(good, door.producerKey, 'snappy', 'application/x-protobuf; proto=prometheus.WriteRequest')).status).toBe(204);
    expect(await ingestMessages()).toBe(before + 1);
    // Only the exact path is the receiver: the push-back status and the OTLP body are decided by it.
    for (const path of ['/api/v1/write/', '/API/v1/write']) {
      const res = await fetch(`${door.suite.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', authorization: `Bearer ${door.producerKey}` }, body: good });
      expect(res.status, path).toBe(404);
    }
    const otlp = await fetch(`${door.suite.base}/v1/metrics/`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${door.producerKey}` }, body: '{"resourceMetrics":[]}' });
    expect(otlp.status).toBe(404);
    // A producer reads nothing.
    expect((await fetch(`${door.suite.base}/metrics/names`, { headers: { authorization: `Bearer ${door.producerKey}` } })).status).toBe(403);
  });
});

describe('POST /api/v1/write while the processor is behind', () => {
  it('answers 503 with Retry-After once the INGEST backlog is over ingest.maxBacklogMessages, which every remote-write sender retries', async () => {
    const suite = await startSuite({ services: [], env: { TMON_INGEST__MAX_BACKLOG_MESSAGES: '2' } });
    const nc = await connect({ servers: suite.ns.config.nats.url });
    try {
      // The processor's consumer, with no processor reading it: every accepted request stays in its backlog.
      await ensureConsumer(await nc.jetstreamManager(), new Bus(nc, suite.ns.config.nats.prefix).ns, 'processor', { ackWaitSeconds: 30, core: suite.ns.config.core });
      const key = await suite.apiKey('prom-busy', 'producer');
      let n = 0;
      const refused = await waitFor(
        async () => {
          const res = await fetch(`${suite.base}/api/v1/write`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', authorization: `Bearer ${key}` },
            body: writeRequest([{ labels: { __name__: 'rw_busy' }, samples: [{ value: n++, timestamp: Date.now() }] }]),
          });
          return res.status === 503 ? res : undefined;
        },
        15_000,
        'a 503 once the backlog is over 2 messages',
        100,
      );
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/the pipeline is behind \(\d+ messages/);
      expect(n).toBeGreaterThan(2);
    } finally {
      await nc.close();
      await suite.stop();
    }
  });
});

describe('POST /api/v1/write and the request limits', () => {
  it("leaves a known key's pushes out of the request counts, which still hold for its reads", async () => {
    const suite = await startSuite({ services: [], env: { TMON_GATEWAY__RATE_LIMIT__PER_PRINCIPAL: '2' } });
    try {
      // The admin's own requests count against the same limit: each key is asked for until its second comes.
      const keyOf = (name: string, role: string) => waitFor(() => suite.apiKey(name, role).catch(() => undefined), 30_000, `the ${role} key`, 500);
      const producer = await keyOf('prom-many', 'producer');
      const push = (i: number) =>
        fetch(`${suite.base}/api/v1/write`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', authorization: `Bearer ${producer}` },
          body: writeRequest([{ labels: { __name__: 'rw_many' }, samples: [{ value: i, timestamp: Date.now() + i }] }]),
        });
      const pushes = await Promise.all(Array.from({ length: 20 }, (_, i) => push(i)));
      expect(pushes.map((r) => r.status)).toEqual(Array(20).fill(204));
      // The same key's other requests are counted: twenty at once pass two a window. A window is a second from its
      // first request, so a burst that a busy machine stretches over `elapsed` ms meets at most ceil(elapsed / 1 s) + 1.
      const started = performance.now();
      const reads = await Promise.all(Array.from({ length: 20 }, () => fetch(`${suite.base}/metrics/names`, { headers: { authorization: `Bearer ${producer}` } })));
      const windows = Math.ceil((performance.now() - started) / 1000) + 1;
      expect(reads.filter((r) => r.status !== 429).length).toBeLessThanOrEqual(2 * windows);
    } finally {
      await suite.stop();
    }
  });
});

describe('POST /api/v1/write past the decoding budget', () => {
  it('pushes back, with 503 and Retry-After, a request arriving while others hold ingest.maxDecodingBytes, and takes it once they are done', async () => {
    // A budget of one byte: one request at a time, whatever its size.
    const suite = await startSuite({ services: [], env: { TMON_INGEST__MAX_DECODING_BYTES: '1' } });
    try {
      const key = await suite.apiKey('prom-wide', 'producer');
      let n = 0;
      const push = () =>
        fetch(`${suite.base}/api/v1/write`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', authorization: `Bearer ${key}` },
          body: writeRequest(Array.from({ length: 200 }, (_, s) => ({ labels: { __name__: 'rw_wide', s: String(s) }, samples: Array.from({ length: 50 }, (_, i) => ({ value: i, timestamp: Date.now() + n++ })) }))),
        });
      const refused = await waitFor(
        async () => {
          const answers = await Promise.all(Array.from({ length: 4 }, push));
          expect(answers.every((r) => r.status === 204 || r.status === 503), answers.map((r) => r.status).join()).toBe(true);
          return answers.find((r) => r.status === 503);
        },
        20_000,
        'a request pushed back while another was decoded',
        0,
      );
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/ingest\.maxDecodingBytes \(1\)/);
      // Nothing held once the others are answered.
      expect((await push()).status).toBe(204);
    } finally {
      await suite.stop();
    }
  });
});
