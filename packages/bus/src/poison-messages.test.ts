import { describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { useTestBus, waitFor } from '@terminusa/testkit';
import { consumeBatches, ensureConsumer, SUBJECTS, type BatchConsumerOptions, type BatchHandler, type Bus, type JsMsg } from './index.ts';

let nc: NatsConnection;
let bus: Bus;

useTestBus((opened) => ({ nc, bus } = opened));

const text = (m: JsMsg) => new TextDecoder().decode(m.data);

/** Publishes `bodies` on the INGEST stream, in order, each stored before the next. */
async function publish(bodies: string[]): Promise<void> {
  const js = nc.jetstream();
  for (const body of bodies) await js.publish(bus.subject(SUBJECTS.ingest, 'game'), new TextEncoder().encode(body));
}

/** Waits until the processor's durable consumer has nothing pending or unacknowledged. */
async function drained(): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await waitFor(async () => {
    const info = await jsm.consumers.info(bus.ns.stream('INGEST'), 'processor');
    return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
  }, 20_000, 'every message acked');
}

/** A batch consumer of the processor's durable, made afresh, with `handler` and `options`. */
async function consume(handler: BatchHandler, options: Pick<BatchConsumerOptions, 'maxBatch' | 'retryDelayMs' | 'poison'>) {
  await ensureConsumer(await nc.jetstreamManager(), bus.ns, 'processor', { ackWaitSeconds: 5, core: { queueSize: 1000, batchSize: 100 } });
  return consumeBatches(bus, 'processor', handler, { lingerMs: 50, onError: () => undefined, ...options });
}

/**
 * Publishes good messages one at a time until `done`, as a fleet keeps sending: a message's failures count only
 * while others are handled between them. Returns the bodies published.
 */
async function trickleUntil(done: () => boolean, what: string): Promise<string[]> {
  const trickle: string[] = [];
  await waitFor(async () => {
    if (done()) return true;
    trickle.push(`later-${Math.random().toString(36).slice(2, 8)}`);
    await publish(trickle.slice(-1));
    return undefined;
  }, 30_000, what, 100);
  return trickle;
}

describe('a message the handler cannot take', () => {
  it('is handled apart from the good ones beside it, which are stored once, and after failing alone set aside once', async () => {
    const stored: string[] = [];
    const setAside: { body: string; failures: number; err: string }[] = [];
    const consumer = await consume(
      async (msgs) => {
        if (msgs.some((m) => text(m) === 'poison')) throw new Error('cannot store this one');
        stored.push(...msgs.map(text));
      },
      { maxBatch: 20, retryDelayMs: 100, poison: { after: 3, setAside: async (m, err, failures) => void setAside.push({ body: text(m), failures, err: (err as Error).message }) } },
    );
    const good = Array.from({ length: 39 }, (_, i) => `good-${i}`);
    await publish([...good.slice(0, 17), 'poison', ...good.slice(17)]);
    const trickle = await trickleUntil(() => setAside.length > 0, 'the poison message set aside');
    await drained();
    await consumer.stop();
    expect(setAside).toEqual([{ body: 'poison', failures: 3, err: 'cannot store this one' }]);
    expect(stored.sort()).toEqual([...good, ...trickle].sort());
  });

  it('is found beside another one: two poison messages side by side are taken apart and set aside, the rest stored', async () => {
    const stored: string[] = [];
    const setAside: string[] = [];
    const consumer = await consume(
      async (msgs) => {
        if (msgs.some((m) => text(m).startsWith('twin'))) throw new Error('cannot store this one');
        stored.push(...msgs.map(text));
      },
      { maxBatch: 8, retryDelayMs: 50, poison: { after: 2, setAside: async (m) => void setAside.push(text(m)) } },
    );
    await publish(['pair-0', 'pair-1', 'pair-2', 'twin-a', 'twin-b', 'pair-3', 'pair-4', 'pair-5']);
    const trickle = await trickleUntil(() => setAside.length === 2, 'both poison messages set aside');
    await drained();
    await consumer.stop();
    expect(setAside.sort()).toEqual(['twin-a', 'twin-b']);
    expect(stored.sort()).toEqual(['pair-0', 'pair-1', 'pair-2', 'pair-3', 'pair-4', 'pair-5', ...trickle].sort());
  });

  it('is not looked for when the failure is a dependency\'s: the batch comes back whole, not taken apart', async () => {
    let down = true;
    const calls: string[][] = [];
    const handled: string[] = [];
    const consumer = await consume(
      async (msgs) => {
        calls.push(msgs.map(text));
        if (down && msgs.some((m) => text(m) === 'dep')) throw Object.assign(new Error('Connection is closed.'), { name: 'MaxRetriesPerRequestError' });
        handled.push(...msgs.map(text));
      },
      { maxBatch: 8, retryDelayMs: 50, poison: { after: 2, counts: (err) => err instanceof TypeError, setAside: async () => undefined } },
    );
    const bodies = ['d-0', 'd-1', 'd-2', 'dep', 'd-4', 'd-5', 'd-6', 'd-7'];
    await publish(bodies);
    await waitFor(() => (calls.filter((c) => c.includes('dep')).length >= 3 ? true : undefined), 20_000, 'three deliveries of the batch');
    down = false;
    await drained();
    await consumer.stop();
    // Not taken apart down to it (each half would have waited for the same dependency); once it is back, each handled once.
    expect(calls.filter((c) => c.length === 1 && c[0] === 'dep')).toEqual([]);
    expect(handled.sort()).toEqual([...bodies].sort());
  });

  it('is not set aside while nothing is handled at all (the store is down): every message is stored once it is back', async () => {
    let down = true;
    const deliveries = new Map<string, number>();
    const stored: string[] = [];
    const setAside: string[] = [];
    const consumer = await consume(
      async (msgs) => {
        for (const m of msgs) deliveries.set(text(m), m.info.redeliveryCount);
        if (down) throw new Error('store unreachable');
        stored.push(...msgs.map(text));
      },
      { maxBatch: 4, retryDelayMs: 50, poison: { after: 2, setAside: async (m) => void setAside.push(text(m)) } },
    );
    const bodies = Array.from({ length: 10 }, (_, i) => `outage-${i}`);
    await publish(bodies);
    // Every message delivered well past `after` times while the store is down: the condition under test.
    await waitFor(() => (bodies.every((b) => (deliveries.get(b) ?? 0) >= 6) ? true : undefined), 20_000, 'every message delivered six times');
    down = false;
    await drained();
    await consumer.stop();
    expect(setAside).toEqual([]);
    expect(stored.sort()).toEqual(bodies.sort());
  });
});
