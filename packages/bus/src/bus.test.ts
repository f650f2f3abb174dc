import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { createTestNamespace, useTestBus, waitFor, type TestNamespace } from '@terminusa/testkit';
import { Bus, CALLS, MAX_IN_HAND_MS, consumeBatches, encodeSampleBatch, ensureConsumer, ensureStreams, SUBJECTS, type ConsumerName, type JsMsg } from './index.ts';

let ns: TestNamespace;
let nc: NatsConnection;
let bus: Bus;

useTestBus((opened) => ({ ns, nc, bus } = opened));
beforeAll(async () => {
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, bus.ns); // a second replica starting: no error, same streams
  await ensureConsumer(jsm, bus.ns, 'storage', { ackWaitSeconds: 2, core: { queueSize: 1000, batchSize: 1 } });
});

/** Runs `test` on a bus of a namespace of its own, its streams and `consumer` made (ack wait `ackWaitSeconds`), then cleans up. */
async function withOwnBus(consumer: ConsumerName, ackWaitSeconds: number, test: (own: { bus: Bus; nc: NatsConnection; jsm: JetStreamManager }) => Promise<void>): Promise<void> {
  const own = await createTestNamespace();
  const ownNc = await connect({ servers: own.config.nats.url });
  try {
    const ownBus = new Bus(ownNc, own.config.nats.prefix);
    const jsm = await ownNc.jetstreamManager();
    await ensureStreams(jsm, ownBus.ns);
    await ensureConsumer(jsm, ownBus.ns, consumer, { ackWaitSeconds, core: { queueSize: 1000, batchSize: 100 } });
    await test({ bus: ownBus, nc: ownNc, jsm });
  } finally {
    await ownNc.close();
    await own.cleanup();
  }
}

const batch = (i: number) => ({ parts: [{ id: `test:${i}`, source: 'test', samples: [{ name: 'm', value: i, ts: i, tags: {} }] }] });

describe('Bus', () => {
  it('captures a core publish on the ingest subject in the INGEST stream', async () => {
    nc.publish(bus.subject(SUBJECTS.ingest, 'game'), new TextEncoder().encode('{"samples":[]}'));
    await nc.flush();
    const info = await waitFor(async () => {
      const s = await (await nc.jetstreamManager()).streams.info(bus.ns.stream('INGEST'));
      return s.state.messages > 0 ? s : undefined;
    }, 5000, 'ingest stream to hold the message');
    expect(info.config.subjects).toEqual([`${ns.id}.metrics.ingest.>`, `${ns.id}.events.>`]);
  });

  it('answers a call\'s refusal with its message, and any other failure with a generic one it hands over to log', async () => {
    const failures: unknown[] = [];
    const sub = bus.serve(
      CALLS.backupVerify,
      async (req) => {
        if (req.id === 'refused') throw Object.assign(new Error('backup refused (chunk-missing): c.chunk is gone'), { code: 'chunk-missing' });
        throw Object.assign(new Error("ENOENT: no such file or directory, open '/data/archive/index.json'"), { code: 'ENOENT' });
      },
      'backup',
      (err) => failures.push(err),
    );
    await nc.flush();
    expect(await bus.call(CALLS.backupVerify, { id: 'refused' }, 5000)).toEqual({ error: 'backup refused (chunk-missing): c.chunk is gone', code: 'chunk-missing' });
    const failed = await bus.call(CALLS.backupVerify, { id: 'other' }, 5000);
    expect(failed).toEqual({ error: 'the backup service failed to answer; its log says why', code: 'failed' });
    expect(failures.map((e) => (e as Error).message)).toEqual(["ENOENT: no such file or directory, open '/data/archive/index.json'"]);
    sub.unsubscribe();
  });

  it('drops a republished message with the same id, for longer than a stuck batch is held before another replica takes it (JetStream duplicate window)', async () => {
    await bus.persist(SUBJECTS.deadLetter, ['dup'], { subject: 'x', receivedAt: 1, rejections: [{ field: 'f', reason: 'r' }], accepted: 0, raw: '', rawEncoding: 'utf8' }, 'same-id');
    await bus.persist(SUBJECTS.deadLetter, ['dup'], { subject: 'x', receivedAt: 1, rejections: [{ field: 'f', reason: 'r' }], accepted: 0, raw: '', rawEncoding: 'utf8' }, 'same-id');
    const info = await (await nc.jetstreamManager()).streams.info(bus.ns.stream('DEADLETTER'));
    expect(info.state.messages).toBe(1);
    expect(info.config.duplicate_window / 1e6).toBeGreaterThan(MAX_IN_HAND_MS + 30_000 + 60_000);
  });

  it('validates on receive and reports every wrong field', () => {
    const decoded = bus.decode(SUBJECTS.deadLetter, 'x', new TextEncoder().encode('{"subject":"s","receivedAt":"1","rejections":[{"field":"f"}],"accepted":0,"raw":"","rawEncoding":"utf8"}'));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) {
      expect(decoded.error.issues).toEqual([
        { field: 'receivedAt', reason: expect.stringContaining('expected number') },
        { field: 'rejections[0].reason', reason: expect.stringContaining('expected string') },
      ]);
    }
  });

  it('decodes packed sample batches with their codec, and the JSON ones of processors before it against the schema', () => {
    const batch = { parts: [{ id: 'a:1', source: 'a', samples: [{ name: 'm', value: 1, ts: 1, tags: { k: 'v' } }] }] };
    expect(bus.decode(SUBJECTS.samples, 'x', encodeSampleBatch(batch))).toEqual({ ok: true, value: batch });
    const damaged = Buffer.from(encodeSampleBatch(batch)).subarray(0, -1);
    expect(bus.decode(SUBJECTS.samples, 'x', damaged)).toMatchObject({ ok: false, error: { issues: [{ field: 'parts[0].samples[0].value', reason: 'body ends early' }] } });
    // A rolling upgrade: what an older processor left in the stream is still stored.
    expect(bus.decode(SUBJECTS.samples, 'x', new TextEncoder().encode(JSON.stringify(batch)))).toEqual({ ok: true, value: batch });
    const wrong = bus.decode(SUBJECTS.samples, 'x', new TextEncoder().encode('{"parts":[{"id":"a:1","source":"a","samples":[{"name":"m","value":"1","ts":1,"tags":{}}]}]}'));
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) expect(wrong.error.issues).toEqual([{ field: 'parts[0].samples[0].value', reason: expect.stringContaining('expected number') }]);
  });

  it('shares a durable consumer between replicas: each message handled once, a failed batch redelivered', async () => {
    const seen: number[][] = [[], []];
    let failOnce = true;
    const handler = (replica: number) => async (msgs: JsMsg[]) => {
      if (replica === 1 && failOnce) {
        failOnce = false;
        throw new Error('simulated write failure');
      }
      for (const m of msgs) seen[replica]!.push(((d) => (d.ok ? d.value.parts[0]!.samples[0]!.value : -1))(bus.decode(SUBJECTS.samples, m.subject, m.data)));
    };
    const options = { maxBatch: 10, lingerMs: 5, retryDelayMs: 100, onError: () => undefined };
    const replicas = [await consumeBatches(bus, 'storage', handler(0), options), await consumeBatches(bus, 'storage', handler(1), options)];
    await Promise.all(Array.from({ length: 500 }, (_, i) => bus.persist(SUBJECTS.samples, [], batch(i))));
    await waitFor(() => (seen[0]!.length + seen[1]!.length >= 500 ? true : undefined), 15_000, 'all 500 messages handled');
    await Promise.all(replicas.map((r) => r.stop()));
    const all = [...seen[0]!, ...seen[1]!].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(seen[0]!.length).toBeGreaterThan(0);
    expect(seen[1]!.length).toBeGreaterThan(0);
    expect(failOnce).toBe(false);
  });

  it('gives each consumer its in-flight limit from the CORE_CONFIG limits: ingest messages, or the SAMPLES messages holding them', async () => {
    const jsm = await nc.jetstreamManager();
    const core = { queueSize: 1000, batchSize: 100 };
    await ensureConsumer(jsm, bus.ns, 'processor', { ackWaitSeconds: 2, core });
    await ensureConsumer(jsm, bus.ns, 'alert-manager', { ackWaitSeconds: 2, core });
    expect((await jsm.consumers.info(bus.ns.stream('INGEST'), 'processor')).config.max_ack_pending).toBe(1000);
    // A SAMPLES message carries up to batchSize ingest messages: 1000 of those are 10 SAMPLES messages.
    expect((await jsm.consumers.info(bus.ns.stream('SAMPLES'), 'alert-manager')).config.max_ack_pending).toBe(10);
    // The storage acks only after the engine's sync, so it takes in ten times as many.
    await ensureConsumer(jsm, bus.ns, 'storage', { ackWaitSeconds: 2, core });
    expect((await jsm.consumers.info(bus.ns.stream('SAMPLES'), 'storage')).config.max_ack_pending).toBe(100);
    await ensureConsumer(jsm, bus.ns, 'storage', { ackWaitSeconds: 2, core: { queueSize: 1000, batchSize: 1 } });
  });

  it('marks messages in progress while they wait and are handled, so a handler slower than the ack wait sees each once', async () => {
    const jsm = await nc.jetstreamManager();
    await ensureConsumer(jsm, bus.ns, 'processor', { ackWaitSeconds: 1, core: { queueSize: 1000, batchSize: 100 } });
    const seen: { seq: number; redelivery: number }[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const consumer = await consumeBatches(
      bus,
      'processor',
      async (msgs) => {
        for (const m of msgs) seen.push({ seq: m.seq, redelivery: m.info.redeliveryCount });
        await released;
      },
      { maxBatch: 1, lingerMs: 5, retryDelayMs: 100, onError: () => undefined, progressEveryMs: 200 },
    );
    for (let i = 0; i < 3; i++) nc.publish(bus.subject(SUBJECTS.ingest, 'slow'), new TextEncoder().encode('{"samples":[]}'));
    await nc.flush();
    await waitFor(() => (seen.length > 0 ? true : undefined), 5000, 'the first batch');
    // Three ack waits with the first batch in hand and the others queued behind it: the condition under test.
    const waited = Date.now();
    await waitFor(() => (Date.now() - waited > 3000 ? true : undefined), 5000, 'three ack waits', 100);
    release();
    await waitFor(async () => {
      const info = await jsm.consumers.info(bus.ns.stream('INGEST'), 'processor');
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    }, 10_000, 'every message acked');
    await consumer.stop();
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen.map((s) => s.seq)).size).toBe(seen.length);
    expect(seen.every((s) => s.redelivery === 1)).toBe(true);
  });

  it('bounds a batch in bytes when asked, a message larger than the bound travelling alone', async () => {
    const jsm = await nc.jetstreamManager();
    await ensureConsumer(jsm, bus.ns, 'alert-manager', { ackWaitSeconds: 2, core: { queueSize: 1000, batchSize: 1 } });
    const pad = 'x'.repeat(1000);
    const big = (i: number) => ({ parts: [{ id: `big:${i}`, source: 'test', samples: [{ name: 'm', value: i, ts: i, tags: { pad } }] }] });
    const batches: number[][] = [];
    const consumer = await consumeBatches(
      bus,
      'alert-manager',
      async (msgs) => {
        batches.push(msgs.map((m) => m.data.length));
      },
      { maxBatch: 100, maxBatchBytes: 3500, lingerMs: 20, retryDelayMs: 100, onError: () => undefined },
    );
    // The stream already holds the earlier tests' small messages; these 30 come after them.
    await Promise.all(Array.from({ length: 30 }, (_, i) => bus.persist(SUBJECTS.samples, [], big(i))));
    await bus.persist(SUBJECTS.samples, [], { parts: [{ id: 'huge', source: 'test', samples: [{ name: 'm', value: 1, ts: 1, tags: { pad: 'y'.repeat(5000) } }] }] });
    await waitFor(() => (batches.flat().filter((n) => n > 1000).length >= 31 ? true : undefined), 15_000, 'the large messages handled');
    await consumer.stop();
    for (const batch of batches) {
      if (batch.length > 1) expect(batch.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3500);
    }
    expect(batches.filter((b) => b.some((n) => n > 5000))).toEqual([[expect.any(Number)]]);
    expect(batches.flat().filter((n) => n > 1000 && n < 5000)).toHaveLength(30);
  });

  it('keeps pulling by bytes through messages of mixed sizes up to the largest the server takes', async () => {
    // nats.js' own byte-bounded consume stopped for good on this: its refills shrank below the next message.
    await withOwnBus('storage', 30, async ({ bus: ownBus, nc: ownNc }) => {
      const maxPayload = ownNc.info!.max_payload;
      // Small ones first: pulls that end on their message count, as a live fleet's small batches do; then large ones.
      let size = 7;
      const small = Array.from({ length: 400 }, () => 200 + ((size = (size * 7919) % 5000)));
      const large = Array.from({ length: 40 }, () => maxPayload - 4096 - ((size = (size * 7919) % 300_000)));
      const sizes = [...small, ...large];
      const js = ownNc.jetstream();
      for (const n of sizes) await js.publish(ownBus.ns.subject(SUBJECTS.samples.filter), new Uint8Array(n));
      let handled = 0;
      const consumer = await consumeBatches(
        ownBus,
        'storage',
        async (msgs) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          handled += msgs.length;
        },
        { maxBatch: 100, concurrency: 2, lingerMs: 5, retryDelayMs: 100, onError: () => undefined },
      );
      await waitFor(() => (handled >= sizes.length ? true : undefined), 30_000, `all ${sizes.length} messages handled`);
      await consumer.stop();
      expect(handled).toBe(sizes.length);
    });
  });

  it('takes no more than maxBatch × (concurrency + 1) messages while its handler is stuck, and on stop gives back at once what it had queued', async () => {
    // A long ack wait: a message back before it was given back, not timed out.
    await withOwnBus('processor', 60, async ({ bus: ownBus, nc: ownNc, jsm }) => {
      const js = ownNc.jetstream();
      for (let i = 0; i < 20; i++) await js.publish(ownBus.subject(SUBJECTS.ingest, 'stuck'), new TextEncoder().encode(`{"i":${i}}`));
      const info = () => jsm.consumers.info(ownBus.ns.stream('INGEST'), 'processor');
      let unstick!: () => void;
      const stuck = new Promise<void>((resolve) => (unstick = resolve));
      const handledByFirst: number[] = [];
      const first = await consumeBatches(ownBus, 'processor', async (msgs) => {
        await stuck;
        handledByFirst.push(...msgs.map((m) => m.seq));
      }, { maxBatch: 2, lingerMs: 5, retryDelayMs: 100, onError: () => undefined });
      // Two in hand, two queued; the pull waits for room, so the other 16 stay for other replicas.
      await waitFor(async () => ((await info()).num_ack_pending === 4 ? true : undefined), 10_000, 'four messages taken');
      expect((await info()).num_pending).toBe(16);

      const stopped = first.stop();
      unstick();
      await stopped;
      expect(handledByFirst).toHaveLength(2);
      const handledBySecond: number[] = [];
      const second = await consumeBatches(ownBus, 'processor', async (msgs) => {
        handledBySecond.push(...msgs.map((m) => m.seq));
      }, { maxBatch: 10, lingerMs: 5, retryDelayMs: 100, onError: () => undefined });
      // Well inside the 60 s ack wait: the two queued messages were given back, not left to time out.
      await waitFor(() => (handledBySecond.length === 18 ? true : undefined), 20_000, 'the other 18 handled by the next replica');
      await second.stop();
      expect([...handledByFirst, ...handledBySecond].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });
  });

  it('does not take an empty pull for caught up while a message is in another replica’s hands', async () => {
    await withOwnBus('processor', 30, async ({ bus: ownBus, nc: ownNc }) => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let taken = 0;
      const slow = await consumeBatches(ownBus, 'processor', async () => {
        taken++;
        await released;
      }, { maxBatch: 10, lingerMs: 5, retryDelayMs: 100, onError: () => undefined });
      await ownNc.jetstream().publish(ownBus.subject(SUBJECTS.ingest, 'slow'), new TextEncoder().encode('{}'));
      await waitFor(() => (taken === 1 ? true : undefined), 10_000, 'the message in the slow replica’s hands');
      const other = await consumeBatches(ownBus, 'processor', async () => undefined, { maxBatch: 10, lingerMs: 5, retryDelayMs: 100, onError: () => undefined });
      try {
        // Its pulls of 2 s end empty, the message in the slow replica's hands: its clock stays at nothing heard
        // (a pull the server ended empty had set it to the pull's start, with a backlog possibly waiting).
        await new Promise((resolve) => setTimeout(resolve, 5000));
        expect(other.intakeClock()).toBe(0);
        release();
        // Once the message is handled and acked, an empty pull says caught up.
        await waitFor(() => (other.intakeClock() > 0 ? true : undefined), 10_000, 'an empty pull after the ack');
      } finally {
        release();
        await other.stop();
        await slow.stop();
      }
    });
  });

  it('tells how far its intake has come: the stream time of the newest message handled, then a pull that found nothing', async () => {
    await withOwnBus('processor', 30, async ({ bus: ownBus, nc: ownNc }) => {
      let storedAt = 0;
      const consumer = await consumeBatches(ownBus, 'processor', async (msgs) => {
        for (const m of msgs) storedAt = Math.max(storedAt, m.info.timestampNanos / 1e6);
      }, { maxBatch: 10, lingerMs: 5, retryDelayMs: 100, onError: () => undefined });
      try {
        await ownNc.jetstream().publish(ownBus.subject(SUBJECTS.ingest, 'clock'), new TextEncoder().encode('{}'));
        await waitFor(() => (storedAt > 0 && consumer.intakeClock() >= storedAt ? true : undefined), 10_000, 'the message handled and its time taken');
        const handled = Date.now();
        // Nothing more to take: the next pull that ends empty says the intake was caught up when it began. Pulls of
        // 2 s make that within about 4 s; the 5 s pulls before took up to 10, and a 2 s no-data rule fired 12 s late.
        await waitFor(() => (consumer.intakeClock() > handled ? true : undefined), 8_000, 'an empty pull');
        expect(consumer.intakeClock()).toBeLessThanOrEqual(Date.now());
      } finally {
        await consumer.stop();
      }
    });
  });
});
