/**
 * The storage's step on real NATS, PostgreSQL, Redis and VictoriaMetrics: a body that does not decode is set aside
 * (dead-lettered, counted, acked) once, however often the batch around it is handed back while the engine is down,
 * and the good body beside it is stored once the engine answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, type JsMsg, type NatsConnection } from 'nats';
import { encodeSampleBatch, type Bus } from '@terminusa/bus';
import { RedisCurrentStore, SampleStore, selector, VictoriaMetrics } from '@terminusa/metric-store';
import { createLogger } from '@terminusa/runtime';
import { connectTestBus, createTestDatabase, QUICK_SYNC, startEngineProcess, waitFor, type TestDatabase } from '@terminusa/testkit';
import { storeSampleBatches, type StoreCounters } from './store-sample-batches.ts';

let db: TestDatabase;
let nc: NatsConnection;
let bus: Bus;
beforeAll(async () => {
  db = await createTestDatabase({ overrides: QUICK_SYNC, applicationName: 'store-sample-batches-test' });
  ({ nc, bus } = await connectTestBus(db.ns));
});
afterAll(async () => {
  await nc?.close();
  await db?.cleanup();
});

/** Counts of each kind the step reports. */
function counting(): StoreCounters & { counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  const add = (kind: string) => (n: number) => void (counts[kind] = (counts[kind] ?? 0) + n);
  return { counts, stored: add('stored'), staleMarkers: add('staleMarkers'), redelivered: add('redelivered'), lateMinutes: add('lateMinutes'), invalid: add('invalid') };
}

describe('storeSampleBatches', () => {
  it('sets a body that does not decode aside once while the engine is down, and stores the good one beside it when it is back', async () => {
    const js = nc.jetstream();
    const subject = `${db.ns.id}.metrics.samples`;
    const batch = (name: string, id: string) => ({ parts: [{ id, source: 'test', samples: [{ name, value: 3, ts: Date.now() - 1000, tags: { k: 'v' } }] }] });
    await js.publish(subject, Buffer.from(encodeSampleBatch(batch('store_damaged', 'damaged:1'))).subarray(0, -3));
    await js.publish(subject, encodeSampleBatch(batch('store_good', 'good:1')));
    const stream = `${db.ns.id}_SAMPLES`;
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(stream, { durable_name: 'store-test', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 });
    const consumer = await js.consumers.get(stream, 'store-test');
    const messages: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: 2, expires: 5000 })) messages.push(m);
    expect(messages).toHaveLength(2);

    const logger = createLogger({ level: 'error' } as never, { service: 'storage', instance: 'test' });
    const current = new RedisCurrentStore(db.ns.redis(), db.ns.config.redis.prefix, 60, 60_000);
    const engineProcess = await startEngineProcess();
    try {
      const engine = new VictoriaMetrics({ ...db.ns.config.storage.engine, url: engineProcess.url });
      const counters = counting();
      const handle = storeSampleBatches(bus, new SampleStore(db.pool, engine), current, counters, logger);
      await engineProcess.kill('SIGKILL');
      // Handed back twice while the engine is down, as the batch consumer does after a failure.
      await expect(handle(messages)).rejects.toThrow();
      await expect(handle(messages)).rejects.toThrow();
      expect(counters.counts.invalid).toBe(1);
      expect((await jsm.streams.info(`${db.ns.id}_DEADLETTER`)).state.messages).toBe(1);
      // The bad one is acked; the good one still waits for its write.
      await waitFor(async () => ((await jsm.consumers.info(stream, 'store-test')).num_ack_pending === 1 ? true : undefined), 5000, 'the bad message acked');

      await engineProcess.start();
      await handle(messages);
      expect(counters.counts).toMatchObject({ invalid: 1, stored: 1 });
      expect((await engine.exportAll(selector('store_good'), 0, Date.now())).map((x) => x.values)).toEqual([[3]]);
    } finally {
      await engineProcess.cleanup();
    }
  });
});
