import { afterEach, describe, expect, it } from 'vitest';
import type { Alert, ChannelName, Notification } from '@terminusa/alerting';
import { createLogger, redisOptions, type Logger } from '@terminusa/runtime';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { DeliveryError, type Channel } from './channels/index.ts';
import { dedupStage } from './dedup-stage.ts';
import { channelDeliveries, deliverStage, type DeliveryReport, type RetryPolicy } from './deliver-stage.ts';
import { DeliveryQueue } from './delivery-queue.ts';
import type { GroupFlush } from './group-stage.ts';
import { deliveryOf, notifyPipeline, type DeliveryContext } from './notify-stage.ts';

let ns: TestNamespace;
let queues = 0;
const running: DeliveryQueue[] = [];

useTestNamespace((opened) => (ns = opened));
afterEach(async () => {
  await Promise.all(running.splice(0).map((q) => q.close()));
});

/** A receiver that answers each attempt as `answer` says (an error to throw, or nothing), and records when it was called. */
class ScriptedChannel implements Channel {
  readonly calls: { at: number; notification: Notification }[] = [];
  constructor(
    readonly name: ChannelName,
    private readonly answer: (attempt: number) => Error | undefined = () => undefined,
  ) {}

  async send(notification: Notification): Promise<void> {
    this.calls.push({ at: Date.now(), notification });
    const err = this.answer(this.calls.length);
    if (err) throw err;
  }
}

/** A delivery queue of the test's own (a fresh BullMQ prefix), its worker started, behind the dedup and deliver stages. */
function setup(channel: ScriptedChannel, retry: RetryPolicy, faults: { reportFails?: boolean; flushFailures?: number } = {}) {
  const logger = createLogger({ ...ns.config.log, level: 'error' }, { service: 'alert-manager', instance: 'queue-test' });
  const queue = new DeliveryQueue(redisOptions(ns.config, 'blocking'), `${ns.config.redis.prefix}bull${++queues}`, logger);
  running.push(queue);
  const delivered: string[] = [];
  const failed: { alert: string; error: string }[] = [];
  const flushed: { flush: GroupFlush; at: number }[] = [];
  const report: DeliveryReport = {
    async delivered(alert, n, to) {
      if (faults.reportFails) throw new Error('the history database is down');
      delivered.push(`${alert.id}:${n.id}:${to}`);
    },
    async failed(alert, _n, _to, error) {
      failed.push({ alert: alert.id, error });
    },
  };
  let flushFailures = faults.flushFailures ?? 0;
  const flushWork = async (flush: GroupFlush) => {
    if (flushFailures-- > 0) throw new Error('Redis went away');
    flushed.push({ flush, at: Date.now() });
  };
  queue.start({ flush: flushWork, ...channelDeliveries(new Map([[channel.name, channel]]), report, logger) }, 2, 5000);
  const deliver = notifyPipeline<DeliveryContext>(dedupStage(queue), deliverStage(queue, retry));
  return { queue, deliver, delivered, failed, flushed };
}

const alert = (id: string): Alert => ({ id, rule: 'Hot', severity: 'critical', state: 'firing', labels: { alertname: 'Hot' }, value: 1, summary: '', message: '', startsAt: 0, channels: ['webhook'] });
const notification = (id: string, ...alerts: string[]): Notification => ({ id, status: 'firing', repeat: false, groupLabels: { alertname: 'Hot' }, alerts: alerts.map(alert) });
const retryable = () => new DeliveryError('webhook', 'receiver answered 503', { retryable: true, status: 503 });

describe('the dedup and deliver stages on the delivery queue', () => {
  it('deliver once and report it per alert; the same delivery asked for again stops at dedup', async () => {
    const webhook = new ScriptedChannel('webhook');
    const { deliver, delivered } = setup(webhook, { attempts: 3, backoffMs: 10 });
    const first = deliveryOf(notification('n1', 'a1', 'a2'), 'webhook');
    await deliver(first);
    expect(first.stoppedBy).toBeUndefined();
    await waitFor(() => (delivered.length === 2 ? true : undefined), 5000, 'both alerts reported delivered');
    expect(delivered).toEqual(['a1:n1:webhook', 'a2:n1:webhook']);

    const replayed = deliveryOf(notification('n1', 'a1', 'a2'), 'webhook');
    await deliver(replayed);
    expect(replayed.stoppedBy).toBe('duplicate');
    expect(webhook.calls).toHaveLength(1);
  });

  it('retry a retryable failure with exponential backoff until an attempt passes', async () => {
    const webhook = new ScriptedChannel('webhook', (attempt) => (attempt <= 2 ? retryable() : undefined));
    const { deliver, delivered, failed } = setup(webhook, { attempts: 5, backoffMs: 100 });
    await deliver(deliveryOf(notification('n1', 'a1'), 'webhook'));
    await waitFor(() => (delivered.length === 1 ? true : undefined), 10_000, 'the delivery reported');
    expect(webhook.calls).toHaveLength(3);
    const [t1, t2, t3] = webhook.calls.map((c) => c.at);
    expect(t2! - t1!).toBeGreaterThanOrEqual(100);
    expect(t3! - t2!).toBeGreaterThanOrEqual(200);
    expect(failed).toEqual([]);
  });

  it('give up at once on a refusal that will not pass, and report it per alert', async () => {
    const webhook = new ScriptedChannel('webhook', () => new DeliveryError('webhook', 'receiver answered 400', { retryable: false, status: 400 }));
    const { deliver, failed, delivered } = setup(webhook, { attempts: 5, backoffMs: 10 });
    await deliver(deliveryOf(notification('n1', 'a1', 'a2'), 'webhook'));
    await waitFor(() => (failed.length === 2 ? true : undefined), 5000, 'the failure reported');
    expect(failed.sort((x, y) => x.alert.localeCompare(y.alert))).toEqual([
      { alert: 'a1', error: 'receiver answered 400' },
      { alert: 'a2', error: 'receiver answered 400' },
    ]);
    expect(webhook.calls).toHaveLength(1);
    expect(delivered).toEqual([]);
  });

  it('report a delivery that fails every attempt once, after the last', async () => {
    const webhook = new ScriptedChannel('webhook', retryable);
    const { deliver, failed } = setup(webhook, { attempts: 3, backoffMs: 10 });
    await deliver(deliveryOf(notification('n1', 'a1'), 'webhook'));
    await waitFor(() => (failed.length === 1 ? true : undefined), 5000, 'the failure reported');
    expect(webhook.calls).toHaveLength(3);
    expect(failed).toEqual([{ alert: 'a1', error: 'receiver answered 503' }]);
  });

  it('defer a delivery while the channel’s circuit is open, without spending an attempt', async () => {
    const open = () => new DeliveryError('webhook', 'circuit open', { retryable: true, retryAfterMs: 30 });
    const webhook = new ScriptedChannel('webhook', (attempt) => (attempt <= 3 ? open() : undefined));
    const { deliver, delivered, failed } = setup(webhook, { attempts: 2, backoffMs: 10 });
    await deliver(deliveryOf(notification('n1', 'a1'), 'webhook'));
    await waitFor(() => (delivered.length === 1 ? true : undefined), 5000, 'the delivery reported');
    expect(webhook.calls).toHaveLength(4);
    expect(webhook.calls[1]!.at - webhook.calls[0]!.at).toBeGreaterThanOrEqual(30);
    expect(failed).toEqual([]);
  });

  it('refuse a delivery to a channel that is not configured', async () => {
    const webhook = new ScriptedChannel('webhook');
    const { deliver, failed } = setup(webhook, { attempts: 5, backoffMs: 10 });
    await deliver(deliveryOf(notification('n1', 'a1'), 'slack'));
    await waitFor(() => (failed.length === 1 ? true : undefined), 5000, 'the failure reported');
    expect(failed).toEqual([{ alert: 'a1', error: 'channel slack is not configured' }]);
    expect(webhook.calls).toEqual([]);
  });

  it('run a group’s flush once its wait is over, once however often it is asked for', async () => {
    const { queue, flushed } = setup(new ScriptedChannel('webhook'), { attempts: 1, backoffMs: 10 });
    const flush: GroupFlush = { setKey: 'k', notificationId: 'g-1', status: 'firing', repeat: false, groupLabels: {} };
    const asked = Date.now();
    await queue.flushAfter('flush-g-1', flush, 200);
    await queue.flushAfter('flush-g-1', flush, 200);
    await waitFor(() => (flushed.length > 0 ? true : undefined), 5000, 'the flush');
    expect(flushed[0]!.flush).toEqual(flush);
    expect(flushed[0]!.at - asked).toBeGreaterThanOrEqual(200);
    // Asked for again once run, it is not run again: the next group's flush is the next one the worker runs.
    await queue.flushAfter('flush-g-1', flush, 0);
    await queue.flushAfter('flush-g-2', { ...flush, notificationId: 'g-2' }, 0);
    await waitFor(() => (flushed.length > 1 ? true : undefined), 5000, 'the next flush');
    expect(flushed.map((f) => f.flush.notificationId)).toEqual(['g-1', 'g-2']);
  });

  it('try a flush again that failed (tried once, its group was lost)', async () => {
    const { queue, flushed } = setup(new ScriptedChannel('webhook'), { attempts: 1, backoffMs: 10 }, { flushFailures: 1 });
    const flush: GroupFlush = { setKey: 'k', notificationId: 'g-3', status: 'firing', repeat: false, groupLabels: {} };
    await queue.flushAfter('flush-g-3', flush, 0);
    await waitFor(() => (flushed.length > 0 ? true : undefined), 10_000, 'the flush tried again');
    expect(flushed.map((f) => f.flush.notificationId)).toEqual(['g-3']);
  });

  it('say so when BullMQ gives a flush up with attempts left, its workers having died on it too often', async () => {
    const errors: { message: string; meta: unknown }[] = [];
    const logger = { error: (message: string, meta: unknown) => void errors.push({ message, meta }), warn: () => undefined, info: () => undefined } as unknown as Logger;
    const queue = new DeliveryQueue(redisOptions(ns.config, 'blocking'), `${ns.config.redis.prefix}bull${++queues}`, logger);
    running.push(queue);
    queue.start({ flush: async () => undefined, attempt: async () => undefined, gaveUp: async () => undefined }, 1, 5000);
    // What BullMQ's stalled-job check emits for a job failed that way: attempts made 1 of 6.
    const worker = (queue as unknown as { worker: { emit(event: string, ...args: unknown[]): boolean } }).worker;
    worker.emit('failed', { id: 'flush-g-9', name: 'flush', attemptsMade: 1, opts: { attempts: 6 }, data: {} }, new Error('job stalled more than allowable limit'));
    expect(errors).toEqual([{ message: 'a notification group was not flushed: its notifications are not sent', meta: { group: 'flush-g-9', error: 'job stalled more than allowable limit' } }]);
  });

  it('send once when the delivery went out but its history could not be written', async () => {
    const webhook = new ScriptedChannel('webhook');
    const { queue, deliver } = setup(webhook, { attempts: 3, backoffMs: 10 }, { reportFails: true });
    const ctx = deliveryOf(notification('n9', 'a9'), 'webhook');
    await deliver(ctx);
    await waitFor(async () => ((await queue.state(ctx.id)) === 'completed' ? true : undefined), 5000, 'the delivery completed');
    expect(webhook.calls).toHaveLength(1);
  });
});
