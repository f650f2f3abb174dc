import { describe, expect, it } from 'vitest';
import { connect } from 'nats';
import { compressSync } from 'snappy';
import { Bus, ensureConsumer } from '@terminusa/bus';
import { startSuite, waitFor } from '@terminusa/testkit';
import { WriteRequestType } from '@terminusa/metric-store';
import { BodyTooLargeError, SampleBudget } from './decoded-samples.ts';
import { decodeRemoteWrite, snappyLength } from './remote-write.ts';
import { useIngestDoor } from '../../test-support/ingest-door.ts';

/** The processor's default tag limits (ingest.maxTags, ingest.maxTagValueLength). */
const TAGS = { maxTags: 32, maxTagValueLength: 256 };

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
    expect(await decodeRemoteWrite(body, 1 << 20, new SampleBudget(1000), TAGS)).toEqual({
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
    expect(await decodeRemoteWrite(body, 1 << 20, new SampleBudget(1000), TAGS)).toEqual({
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
    expect(await decodeRemoteWrite(body, 1 << 20, new SampleBudget(1000), TAGS)).toEqual({
      samples: [{ name: 'up', value: 1, ts: 1_700_000_000_000, tags: { job: 'kept' } }],
      dropped: { invalid_name: 1, invalid_label: 4 },
    });
    expect(await decodeRemoteWrite(compressSync(Buffer.from(twice)) as Buffer, 1 << 20, new SampleBudget(1000), TAGS)).toEqual({ samples: [], dropped: { invalid_label: 1 } });
  });

  it('refuses a body that is not snappy, not a WriteRequest or is too large', async () => {
    await expect(decodeRemoteWrite(Buffer.from('not snappy at all'), 1 << 20, new SampleBudget(1000), TAGS)).rejects.toThrow(/snappy/);
    await expect(decodeRemoteWrite(compressSync(Buffer.from([0xff, 0xff, 0xff])) as Buffer, 1 << 20, new SampleBudget(1000), TAGS)).rejects.toThrow(/WriteRequest/);
    await expect(decodeRemoteWrite(writeRequest([{ labels: { __name__: 'big' }, samples: [{ value: 1, timestamp: 1 }] }]), 4, new SampleBudget(1000), TAGS)).rejects.toThrow(BodyTooLargeError);
  });

  it('refuses a body declaring more than it takes before decompressing it, and one making more samples than a request may', async () => {
    const body = writeRequest([{ labels: { __name__: 'up' }, samples: [{ value: 1, timestamp: 1 }] }]);
    expect(snappyLength(body)).toBe(WriteRequestType.encode(WriteRequestType.fromObject({ timeseries: [{ labels: [{ name: '__name__', value: 'up' }], samples: [{ value: 1, timestamp: 1 }] }] })).finish().length);
    // Six bytes that declare 4 GiB - 1: refused from the length alone (decompressing would allocate it first).
    const bomb = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    expect(snappyLength(bomb)).toBe(2 ** 32 - 1);
    await expect(decodeRemoteWrite(bomb, 16 << 20, new SampleBudget(1000), TAGS)).rejects.toThrow(/decompresses to 4294967295 bytes, more than the 16777216 taken/);
    // 2,000 samples of two series against a budget of 1,500.
    const samples = Array.from({ length: 1000 }, (_, i) => ({ value: i, timestamp: i }));
    const many = writeRequest([{ labels: { __name__: 'a' }, samples }, { labels: { __name__: 'b' }, samples }]);
    await expect(decodeRemoteWrite(many, 1 << 20, new SampleBudget(1500), TAGS)).rejects.toThrow(/more than 1500 samples, the most one request may \(ingest.maxSamplesPerRequest\)/);
    expect((await decodeRemoteWrite(many, 1 << 20, new SampleBudget(2000), TAGS)).samples).toHaveLength(2000);
  });
});

describe('decodeRemoteWrite and the tags a request writes out', () => {
  it('leaves out, counted, a series whose labels the processor would refuse: more than maxTags, a value too long or holding NUL', async () => {
    const T = 1_700_000_000_000;
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${i}`, 'v']));
    const body = writeRequest([
      { labels: { __name__: 'up', ...many }, samples: [{ value: 1, timestamp: T }] },
      { labels: { __name__: 'up', job: 'x'.repeat(257) }, samples: [{ value: 1, timestamp: T }, { value: 2, timestamp: T + 1 }] },
      { labels: { __name__: 'up', job: 'a\u0000b' }, samples: [{ value: 1, timestamp: T }] },
      { labels: { __name__: 'up', job: 'x'.repeat(256), ...Object.fromEntries(Object.entries(many).slice(2)) }, samples: [{ value: 1, timestamp: T }] },
    ]);
    const { samples, dropped } = await decodeRemoteWrite(body, 1 << 20, new SampleBudget(1000), TAGS);
    expect(dropped).toEqual({ invalid_label: 4 });
    // At the limits exactly (32 labels, a value of 256 characters) it is kept.
    expect(samples).toHaveLength(1);
    expect(Object.keys(samples[0]!.tags!)).toHaveLength(32);
  });

  it('leaves out a 60 KB label over 499,000 samples (6.5 MB decompressed) without writing it out once for each', async () => {
    const body = writeRequest([{ labels: { __name__: 'up', job: 'x'.repeat(60_000) }, samples: Array.from({ length: 499_000 }, () => ({ value: 0, timestamp: 0 })) }]);
    expect(snappyLength(body)).toBeLessThan(7 << 20);
    expect(await decodeRemoteWrite(body, 16 << 20, new SampleBudget(500_000), TAGS)).toEqual({ samples: [], dropped: { invalid_label: 499_000 } });
  });

  it('refuses a request whose tags, written out once per sample, pass 256 bytes × the samples it may make, before making them', async () => {
    // 1,000 samples of about 300 bytes of tags against a budget of 1,000 samples: 300,000 bytes, past 256,000.
    const samples = Array.from({ length: 1000 }, (_, i) => ({ value: i, timestamp: 1_700_000_000_000 + i }));
    const wide = writeRequest([{ labels: { __name__: 'up', job: 'j'.repeat(250), instance: 'i'.repeat(30) }, samples }]);
    await expect(decodeRemoteWrite(wide, 1 << 20, new SampleBudget(1000), TAGS)).rejects.toThrow(BodyTooLargeError);
    await expect(decodeRemoteWrite(wide, 1 << 20, new SampleBudget(1000), TAGS)).rejects.toThrow(/more than 256000 bytes of tags written out once per sample, .*ingest\.maxSamplesPerRequest/);
    expect((await decodeRemoteWrite(wide, 1 << 20, new SampleBudget(2000), TAGS)).samples).toHaveLength(1000);
    // A label name past the processor's 128 characters: left out like a long value, before it is written out once per sample.
    const named = writeRequest([{ labels: { __name__: 'up', ['n'.repeat(60_000)]: 'x' }, samples: Array.from({ length: 499_000 }, () => ({ value: 0, timestamp: 0 })) }]);
    expect(await decodeRemoteWrite(named, 16 << 20, new SampleBudget(500_000), TAGS)).toEqual({ samples: [], dropped: { invalid_label: 499_000 } });
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

  it('refuses at once what would be written out once per sample: a 60 KB label value or name left out, too many bytes of tags 413; a request beside is taken', async () => {
    const empty = Array.from({ length: 499_000 }, () => ({ value: 0, timestamp: 0 }));
    const before = await ingestMessages();
    const started = performance.now();
    // Taken, its series left out (invalid_label) as the processor would refuse each of its 499,000 samples: 30 GB of messages.
    expect((await post(writeRequest([{ labels: { __name__: 'rw_amplified', job: 'x'.repeat(60_000) }, samples: empty }]), door.producerKey)).status).toBe(204);
    // A label name past 128 characters is left out the same way.
    expect((await post(writeRequest([{ labels: { __name__: 'rw_amplified', ['n'.repeat(60_000)]: 'x' }, samples: empty }]), door.producerKey)).status).toBe(204);
    // Labels within the limits, but too many bytes of them written out once per sample: 413.
    const wide = await post(writeRequest([{ labels: { __name__: 'rw_amplified', job: 'j'.repeat(256), instance: 'i'.repeat(256) }, samples: empty }]), door.producerKey);
    expect(wide.status).toBe(413);
    expect(((await wide.json()) as { detail: string }).detail).toMatch(/more than 128000000 bytes of tags written out once per sample/);
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(await ingestMessages()).toBe(before);

    const now = Date.now();
    const beside = writeRequest([{ labels: { __name__: 'rw_beside', job: 'j'.repeat(256) }, samples: Array.from({ length: 100 }, (_, i) => ({ value: i, timestamp: now + i })) }]);
    expect((await post(beside, door.producerKey)).status).toBe(204);
    expect((await door.lastSamples()).at(-1)).toEqual({ name: 'rw_beside', value: 99, ts: now + 99, tags: { job: 'j'.repeat(256) } });
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

describe('POST /api/v1/write of a key that may not push', () => {
  it('counts its requests as any other, before its body is read and refused 403: a leaked viewer key is slowed down', async () => {
    const suite = await startSuite({ services: [], env: { TMON_GATEWAY__RATE_LIMIT__PER_PRINCIPAL: '2' } });
    try {
      const viewer = await waitFor(() => suite.apiKey('grafana-leaked', 'viewer').catch(() => undefined), 30_000, 'the viewer key', 500);
      const push = (i: number) =>
        fetch(`${suite.base}/api/v1/write`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', authorization: `Bearer ${viewer}` },
          body: writeRequest([{ labels: { __name__: 'rw_leaked' }, samples: [{ value: i, timestamp: Date.now() + i }] }]),
        });
      const started = performance.now();
      const statuses = (await Promise.all(Array.from({ length: 20 }, (_, i) => push(i)))).map((r) => r.status);
      const windows = Math.ceil((performance.now() - started) / 1000) + 1;
      // Two a window reach the route (403); the others are pushed back as remote_write's rate limits are (503).
      expect(statuses.every((s) => s === 403 || s === 503), statuses.join()).toBe(true);
      expect(statuses.filter((s) => s === 403).length).toBeLessThanOrEqual(2 * windows);
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
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
