import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createLogger } from '@terminusa/runtime';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import type { OutboxEvent } from './outbox-event.ts';
import { relayOutbox } from './relay-outbox.ts';

const GROUP = 'relay';
const CLAIM_IDLE_MS = 300;

let ns: TestNamespace;
let redis: Redis;
let streams = 0;
const running: { stop(): Promise<void> }[] = [];

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  redis = ns.redis();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((relay) => relay.stop()));
});

const logger = () => createLogger({ ...ns.config.log, level: 'error' }, { service: 'alert-manager', instance: 'relay-test' });

/** A stream of the test's own inside the namespace. */
const newStream = () => `${ns.config.redis.prefix}outbox-${++streams}`;

/** Appends an entry as the state scripts write it: the `seq`th transition of alert `alert`. */
async function append(stream: string, alert: string, seq: number): Promise<string> {
  const fields = ['key', `state:${alert}`, 'id', alert, 'seq', String(seq), 'kind', 'firing', 'from', 'pending', 'to', 'firing', 'at', String(Date.now()), 'rule', 'R', 'severity', 'warning', 'labels', JSON.stringify({ alert })];
  return (await redis.xadd(stream, '*', ...fields))!;
}

/** Starts a relay as consumer `consumer`, recording what `handle` was given; stopped after the test. */
async function relay(stream: string, consumer: string, handle: (event: OutboxEvent) => Promise<void> = async () => undefined): Promise<OutboxEvent[]> {
  const seen: OutboxEvent[] = [];
  const started = await relayOutbox(redis, stream, consumer, {
    async handle(event) {
      seen.push(event);
      await handle(event);
    },
  }, logger(), CLAIM_IDLE_MS);
  running.push(started);
  return seen;
}

/** Entries of the group's consumers that were delivered and never acknowledged. */
const pending = async (stream: string) => ((await redis.xpending(stream, GROUP)) as [number, ...unknown[]])[0];

describe('the outbox relay', () => {
  it('hands each entry to the handler once, then acknowledges and deletes it', async () => {
    const stream = newStream();
    const seen = await relay(stream, 'one');
    const ids = [await append(stream, 'a', 1), await append(stream, 'b', 1), await append(stream, 'a', 2)];
    await waitFor(async () => ((await redis.xlen(stream)) === 0 ? true : undefined), 5000, 'the stream emptied');
    expect(seen.map((e) => e.streamId).sort()).toEqual(ids.slice().sort());
    expect(seen.find((e) => e.streamId === ids[2])).toMatchObject({ stateKey: 'state:a', seq: 2, kind: 'firing', alert: { id: 'a', labels: { alert: 'a' } } });
    expect(await pending(stream)).toBe(0);
  });

  it('keeps an alert’s entries of a batch in order: a failed one holds back its alert’s later ones, not other alerts’, until claimed again', async () => {
    const stream = newStream();
    let failures = 1;
    const seen = await relay(stream, 'one', async (event) => {
      if (event.alert.id === 'a' && event.seq === 1 && failures-- > 0) throw new Error('the alert store is away');
    });
    // One transaction, so the relay reads the three entries as one batch.
    const batch = redis.multi();
    for (const [alert, seq] of [['a', 1], ['b', 1], ['a', 2]] as const) {
      batch.xadd(stream, '*', 'key', `state:${alert}`, 'id', alert, 'seq', String(seq), 'kind', 'firing', 'from', 'pending', 'to', 'firing', 'at', String(Date.now()));
    }
    await batch.exec();
    await waitFor(async () => ((await redis.xlen(stream)) === 0 ? true : undefined), 5000, 'the stream emptied');
    const order = seen.map((e) => `${e.alert.id}${e.seq}`);
    expect(order.filter((x) => x.startsWith('a'))).toEqual(['a1', 'a1', 'a2']);
    expect(order.filter((x) => x === 'b1')).toEqual(['b1']);
    // b's entry was not held back by a's failure: it was handled before a's retry.
    expect(order.indexOf('b1')).toBeLessThan(order.lastIndexOf('a1'));
    expect(await pending(stream)).toBe(0);
  });

  it('hands a batch read to `batch` before any of its entries is handled; a failed batch leaves all of them pending until claimed again', async () => {
    const stream = newStream();
    const calls: string[] = [];
    let failures = 1;
    const started = await relayOutbox(redis, stream, 'one', {
      async batch(events) {
        calls.push(`batch:${events.map((e) => `${e.alert.id}${e.seq}`).join(',')}`);
        if (failures-- > 0) throw new Error('the alert store is away');
      },
      async handle(event) {
        calls.push(`${event.alert.id}${event.seq}`);
      },
    }, logger(), CLAIM_IDLE_MS);
    running.push(started);
    // One transaction, so the relay reads the three entries as one batch.
    const batch = redis.multi();
    for (const [alert, seq] of [['a', 1], ['b', 1], ['a', 2]] as const) {
      batch.xadd(stream, '*', 'key', `state:${alert}`, 'id', alert, 'seq', String(seq), 'kind', 'firing', 'from', 'pending', 'to', 'firing', 'at', String(Date.now()));
    }
    await batch.exec();
    await waitFor(async () => ((await redis.xlen(stream)) === 0 ? true : undefined), 5000, 'the stream emptied');
    // The failed batch handled nothing; the claimed one came whole, then its entries, a's in order.
    expect(calls.slice(0, 2)).toEqual(['batch:a1,b1,a2', 'batch:a1,b1,a2']);
    expect(calls.slice(2).filter((c) => c.startsWith('a'))).toEqual(['a1', 'a2']);
    expect(calls.slice(2).sort()).toEqual(['a1', 'a2', 'b1']);
    expect(await pending(stream)).toBe(0);
  });

  it('takes over what a crashed replica read and never acknowledged, once it has been idle for claimIdleMs', async () => {
    const stream = newStream();
    await redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
    const ids = [await append(stream, 'a', 1), await append(stream, 'b', 1)];
    // The crashed replica: it read both entries, and died before acknowledging either.
    const taken = (await redis.xreadgroup('GROUP', GROUP, 'crashed', 'COUNT', 10, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    expect(taken[0]![1].map(([id]) => id)).toEqual(ids);
    const takenAt = Date.now();

    const seen = await relay(stream, 'survivor');
    await waitFor(() => (seen.length === 2 ? true : undefined), 5000, 'the survivor handling both entries');
    expect(Date.now() - takenAt).toBeGreaterThanOrEqual(CLAIM_IDLE_MS);
    expect(seen.map((e) => e.streamId)).toEqual(ids);
    await waitFor(async () => ((await redis.xlen(stream)) === 0 ? true : undefined), 5000, 'the stream emptied');
    expect(await pending(stream)).toBe(0);
  });

  it('takes over a crashed replica’s whole backlog in one look, not a hundred entries per look', async () => {
    const stream = newStream();
    await redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
    const pipeline = redis.pipeline();
    for (let i = 0; i < 350; i++) pipeline.xadd(stream, '*', 'key', `state:${i}`, 'id', String(i), 'seq', '1', 'kind', 'firing', 'from', 'pending', 'to', 'firing', 'at', String(Date.now()));
    await pipeline.exec();
    const taken = (await redis.xreadgroup('GROUP', GROUP, 'crashed', 'COUNT', 1000, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    const ids = taken[0]![1].map(([id]) => id);
    // Idle for two minutes already, as after a long outage: claimable at the survivor's first look, and its next
    // look (a third of its one-minute claim time) comes long after this test's deadline.
    await redis.xclaim(stream, GROUP, 'crashed', 0, ...ids, 'IDLE', 120_000);
    const seen: OutboxEvent[] = [];
    running.push(await relayOutbox(redis, stream, 'survivor', { handle: async (event) => void seen.push(event) }, logger(), 60_000));
    await waitFor(() => (seen.length === 350 ? true : undefined), 10_000, 'all 350 taken over');
    expect(new Set(seen.map((e) => e.streamId)).size).toBe(350);
  });

  it('shares entries between replicas, each entry handled by one of them', async () => {
    const stream = newStream();
    const [one, two] = [await relay(stream, 'one'), await relay(stream, 'two')];
    const pipeline = redis.pipeline();
    for (let seq = 1; seq <= 4; seq++) for (let alert = 0; alert < 100; alert++) pipeline.xadd(stream, '*', 'key', `state:${alert}`, 'id', String(alert), 'seq', String(seq), 'kind', 'firing', 'from', 'pending', 'to', 'firing', 'at', String(Date.now()));
    await pipeline.exec();
    await waitFor(async () => ((await redis.xlen(stream)) === 0 ? true : undefined), 10_000, 'the stream emptied');
    const handled = [...one, ...two].map((e) => e.streamId);
    expect(handled).toHaveLength(400);
    expect(new Set(handled).size).toBe(400);
    expect(await pending(stream)).toBe(0);
  });

  it('stops reading once stopped, leaving later entries for the next relay', async () => {
    const stream = newStream();
    const first = await relayOutbox(redis, stream, 'one', { handle: async () => undefined }, logger(), CLAIM_IDLE_MS);
    await first.stop();
    const id = await append(stream, 'a', 1);
    const seen = await relay(stream, 'two');
    await waitFor(() => (seen.length === 1 ? true : undefined), 5000, 'the next relay handling the entry');
    expect(seen[0]!.streamId).toBe(id);
  });
});
