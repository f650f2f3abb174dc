import { beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { useTestBus } from '@terminusa/testkit';
import { encodeSampleBatch, ensureConsumer, SUBJECTS, whenCaughtUp, type Bus } from './index.ts';

let nc: NatsConnection;
let bus: Bus;

useTestBus((opened) => ({ nc, bus } = opened));
beforeAll(async () => {
  await ensureConsumer(await nc.jetstreamManager(), bus.ns, 'alert-manager', { ackWaitSeconds: 30, core: { queueSize: 1000, batchSize: 10 } });
});

describe('whenCaughtUp', () => {
  it('waits while the consumer has more undelivered than it allows, resolves once delivered, and gives up after its time', async () => {
    for (let i = 0; i < 5; i++) await bus.persistEncoded(SUBJECTS.samples, [], encodeSampleBatch({ parts: [{ id: `c:${i}`, source: 'test', samples: [{ name: 'm', value: i, ts: i, tags: {} }] }] }), `c:${i}`);
    const { stream } = bus.consumerTarget('alert-manager');
    expect(await whenCaughtUp(bus, 'alert-manager', { maxPending: 5, timeoutMs: 0 })).toBe(true);
    expect(await whenCaughtUp(bus, 'alert-manager', { maxPending: 2, timeoutMs: 300, pollMs: 50 })).toBe(false);
    const waiting = whenCaughtUp(bus, 'alert-manager', { maxPending: 2, timeoutMs: 10_000, pollMs: 50 });
    const consumer = await bus.js.consumers.get(stream, 'alert-manager');
    for await (const m of await consumer.fetch({ max_messages: 3, expires: 2000 })) m.ack();
    expect(await waiting).toBe(true);
  });
});
