import { beforeAll, describe, expect, it } from 'vitest';
import { type Redis } from 'ioredis';
import { alertKeys, type Alert, type ChannelName } from '@terminusa/alerting';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import type { OutboxEvent } from '../outbox/outbox-event.ts';
import { groupStage, type FlushTimer, type GroupFlush, type GroupSettings } from './group-stage.ts';
import type { DeliveryContext, NotifyContext } from './notify-stage.ts';
import { RedisNotificationGroups } from './redis-notification-groups.ts';

let ns: TestNamespace;
let redis: Redis;
let cases = 0;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  redis = ns.redis();
});

/** Flushes asked for, by id: the delivery queue's delayed jobs, run here when the test says. */
class RecordedFlushes implements FlushTimer {
  readonly asked = new Map<string, { flush: GroupFlush; delayMs: number; times: number }>();
  async flushAfter(id: string, flush: GroupFlush, delayMs: number): Promise<void> {
    const seen = this.asked.get(id);
    this.asked.set(id, { flush, delayMs, times: (seen?.times ?? 0) + 1 });
  }
}

/** A group stage of the test's own (its key prefix inside the namespace), with what it handed on and asked for. */
function setup(settings: GroupSettings) {
  const keys = alertKeys(`${ns.config.redis.prefix}case${++cases}:`);
  const flushes = new RecordedFlushes();
  const delivered: DeliveryContext[] = [];
  const acked = new Set<string>();
  const stage = groupStage(new RedisNotificationGroups(redis, keys), flushes, settings, async (ctx) => void delivered.push(ctx), async (ids) => new Set(ids.filter((id) => acked.has(id))));
  return { keys, flushes, delivered, stage, acked };
}

function context(id: string, labels: Record<string, string>, channels: ChannelName[], kind: OutboxEvent['kind'] = 'firing', seq = 1, at = 0): NotifyContext {
  const alert: Alert = { id, rule: labels.alertname ?? 'R', severity: 'warning', state: kind === 'resolved' ? 'resolved' : 'firing', labels, value: 1, summary: '', message: '', startsAt: 0, channels };
  return { event: { streamId: '1-0', stateKey: `state:${id}`, seq, kind, from: 'pending', at, alert, notified: [] }, channels };
}

/** The group key of a flush: its notification id is `<group key>-<opened>`. */
const groupKeyOf = (flush: GroupFlush) => flush.notificationId.split('-')[0]!;

describe('the group stage', () => {
  it('without a wait, hands each alert on at once as its own notification, one per channel', async () => {
    const { stage, delivered, flushes } = setup({ groupWaitMs: 0, groupBy: ['alertname'] });
    await stage.stage(context('a1', { alertname: 'Hot', host: 'h1' }, ['webhook', 'slack'], 'renotify', 3));
    expect(flushes.asked.size).toBe(0);
    expect(delivered.map((d) => [d.id, d.channel])).toEqual([
      ['deliver-a1-3-webhook', 'webhook'],
      ['deliver-a1-3-slack', 'slack'],
    ]);
    expect(delivered[0]!.notification).toMatchObject({ id: 'a1-3', status: 'firing', repeat: true, groupLabels: { alertname: 'Hot' } });
    expect(delivered[0]!.notification.alerts.map((a) => a.id)).toEqual(['a1']);
  });

  it('gathers alerts sharing their group labels into one group and one flush, then one notification per channel with that channel’s alerts', async () => {
    const { stage, delivered, flushes, keys } = setup({ groupWaitMs: 60_000, groupBy: ['alertname'] });
    await stage.stage(context('a1', { alertname: 'Hot', host: 'h1' }, ['webhook']));
    await stage.stage(context('a2', { alertname: 'Hot', host: 'h2' }, ['webhook', 'slack']));
    // Replayed after a crash: the same member joins the same group, and the same flush is asked for.
    await stage.stage(context('a2', { alertname: 'Hot', host: 'h2' }, ['webhook', 'slack']));
    expect(delivered).toEqual([]);
    expect(flushes.asked.size).toBe(1);
    const [id, asked] = [...flushes.asked][0]!;
    expect(asked.times).toBe(3);
    expect(asked.delayMs).toBeGreaterThan(59_000);
    expect(id).toBe(`flush-${asked.flush.notificationId}`);
    expect(asked.flush).toEqual({ setKey: expect.any(String), openKey: expect.any(String), notificationId: expect.any(String), groupLabels: { alertname: 'Hot' } });
    // The group is open to newcomers until just before its flush.
    expect(await redis.pttl(keys.groupOpen(groupKeyOf(asked.flush)))).toBeGreaterThan(58_000);

    await stage.flush(asked.flush);
    const byChannel = Object.fromEntries(delivered.map((d) => [d.channel, d]));
    expect(Object.keys(byChannel).sort()).toEqual(['slack', 'webhook']);
    expect(byChannel.webhook!.notification.alerts.map((a) => a.id).sort()).toEqual(['a1', 'a2']);
    expect(byChannel.slack!.notification.alerts.map((a) => a.id)).toEqual(['a2']);
    expect(byChannel.webhook!.id).toBe(`deliver-${asked.flush.notificationId}-webhook`);
    expect(byChannel.webhook!.notification).toMatchObject({ status: 'firing', repeat: false, groupLabels: { alertname: 'Hot' } });
    expect(await redis.exists(asked.flush.setKey)).toBe(0);
  });

  it('leaves out of a firing or repeat notification an alert acknowledged while the group waited, and sends its resolution', async () => {
    const { stage, delivered, flushes, acked } = setup({ groupWaitMs: 60_000, groupBy: ['alertname'] });
    await stage.stage(context('b1', { alertname: 'Warm', host: 'h1' }, ['webhook'], 'renotify', 2));
    await stage.stage(context('b2', { alertname: 'Warm', host: 'h2' }, ['webhook'], 'renotify', 2));
    acked.add('b1');
    const [, repeat] = [...flushes.asked][0]!;
    await stage.flush(repeat.flush);
    expect(delivered.map((d) => d.notification.alerts.map((a) => a.id))).toEqual([['b2']]);
    // Only acknowledged, b2 too: nothing goes out at all.
    acked.add('b2');
    await stage.stage(context('b2', { alertname: 'Warm', host: 'h2' }, ['webhook'], 'renotify', 3));
    await stage.flush([...flushes.asked].at(-1)![1].flush);
    expect(delivered).toHaveLength(1);
    // Its resolution is not held back by the acknowledgement.
    await stage.stage(context('b1', { alertname: 'Warm', host: 'h1' }, ['webhook'], 'resolved', 4));
    await stage.flush([...flushes.asked].at(-1)![1].flush);
    expect(delivered.at(-1)!.notification).toMatchObject({ status: 'resolved', alerts: [expect.objectContaining({ id: 'b1' })] });
  });

  it('keeps apart alerts of other group labels, and gathers firings, re-notifications and resolutions of the same ones', async () => {
    const { stage, flushes } = setup({ groupWaitMs: 60_000, groupBy: ['alertname'] });
    await stage.stage(context('a1', { alertname: 'Hot' }, ['webhook']));
    await stage.stage(context('a2', { alertname: 'Cold' }, ['webhook']));
    await stage.stage(context('a3', { alertname: 'Hot' }, ['webhook'], 'resolved'));
    await stage.stage(context('a4', { alertname: 'Hot' }, ['webhook'], 'renotify'));
    await stage.stage(context('a5', { alertname: 'Hot' }, ['webhook']));
    expect([...flushes.asked.values()].map((f) => [f.flush.groupLabels.alertname, f.times])).toEqual([
      ['Hot', 4],
      ['Cold', 1],
    ]);
  });

  it('sends a group’s alerts in their events’ order, one notification per run of one kind: never an end before its beginning', async () => {
    const { stage, flushes, delivered, acked } = setup({ groupWaitMs: 60_000, groupBy: ['alertname'] });
    // Another alert's resolution opens the group; a1 fires and ends while it is open (a flap within the wait), a2 is
    // re-notified, and h0 fails again: a new episode, a new alert id, after the old one's end.
    await stage.stage(context('a0', { alertname: 'Hot', host: 'h0' }, ['webhook'], 'resolved', 5, 1000));
    await stage.stage(context('a1', { alertname: 'Hot', host: 'h1' }, ['webhook', 'slack'], 'firing', 1, 2000));
    await stage.stage(context('a2', { alertname: 'Hot', host: 'h2' }, ['webhook'], 'renotify', 3, 2000));
    await stage.stage(context('a3', { alertname: 'Hot', host: 'h3' }, ['webhook'], 'firing', 1, 2000));
    await stage.stage(context('a1', { alertname: 'Hot', host: 'h1' }, ['webhook', 'slack'], 'resolved', 2, 3000));
    await stage.stage(context('b0', { alertname: 'Hot', host: 'h0' }, ['webhook'], 'firing', 1, 4000));
    expect(flushes.asked.size).toBe(1);
    const [only] = [...flushes.asked.values()];
    const members = await redis.smembers(only!.flush.setKey);
    await stage.flush(only!.flush);
    const sent = () => delivered.map((d) => [d.notification.id.replace(only!.flush.notificationId, 'g'), d.channel, d.notification.status, d.notification.repeat, d.notification.alerts.map((a) => a.id)]);
    // h0's new episode joins the firings after h0's old end; a1's end comes after its start.
    expect(sent()).toEqual([
      ['g', 'webhook', 'resolved', false, ['a0']],
      ['g-1', 'webhook', 'firing', false, ['a1', 'a3', 'b0']],
      ['g-1', 'slack', 'firing', false, ['a1']],
      ['g-2', 'webhook', 'firing', true, ['a2']],
      ['g-3', 'webhook', 'resolved', false, ['a1']],
      ['g-3', 'slack', 'resolved', false, ['a1']],
    ]);
    // Run again (its worker died before it removed the members): the same ids, an acknowledgement meanwhile included.
    await redis.sadd(only!.flush.setKey, members);
    delivered.length = 0;
    acked.add('a3');
    await stage.flush(only!.flush);
    expect(sent().map(([id, channel, , , alerts]) => [id, channel, alerts])).toEqual([
      ['g', 'webhook', ['a0']],
      ['g-1', 'webhook', ['a1', 'b0']],
      ['g-1', 'slack', ['a1']],
      ['g-2', 'webhook', ['a2']],
      ['g-3', 'webhook', ['a1']],
      ['g-3', 'slack', ['a1']],
    ]);
  });

  it('keeps a rolling restart’s interleaved firings and resolutions of other hosts to one notification of each kind', async () => {
    const { stage, flushes, delivered } = setup({ groupWaitMs: 60_000, groupBy: ['alertname'] });
    for (let i = 0; i < 10; i++) await stage.stage(context(`r${i}`, { alertname: 'Down', host: `h${i}` }, ['webhook'], i % 2 ? 'resolved' : 'firing', 1, 1000 + i));
    await stage.flush([...flushes.asked.values()][0]!.flush);
    expect(delivered.map((d) => [d.notification.status, d.notification.alerts.map((a) => a.id)])).toEqual([
      ['firing', ['r0', 'r2', 'r4', 'r6', 'r8']],
      ['resolved', ['r1', 'r3', 'r5', 'r7', 'r9']],
    ]);
  });

  it('orders an alert’s own events by their numbers when the replicas’ clocks put its end first', async () => {
    const { stage, flushes, delivered } = setup({ groupWaitMs: 60_000, groupBy: ['alertname'] });
    // Fired on a replica whose clock runs 2 s ahead of the one that resolved it a second later.
    await stage.stage(context('k1', { alertname: 'Skew', host: 'h1' }, ['webhook'], 'firing', 1, 3000));
    await stage.stage(context('k1', { alertname: 'Skew', host: 'h1' }, ['webhook'], 'resolved', 2, 2000));
    await stage.flush([...flushes.asked.values()][0]!.flush);
    expect(delivered.map((d) => d.notification.status)).toEqual(['firing', 'resolved']);
  });

  it('flushes a group an older release left (one status per group, members without theirs) as it was', async () => {
    const { stage, delivered, keys } = setup({ groupWaitMs: 60_000, groupBy: ['alertname'] });
    const setKey = `${keys.groupSet('old')}:1`;
    const alert = context('o1', { alertname: 'Hot' }, ['webhook'], 'resolved').event.alert;
    await redis.sadd(setKey, JSON.stringify({ alert, channels: ['webhook'] }));
    await stage.flush({ setKey, notificationId: 'old-1', status: 'resolved', repeat: false, groupLabels: { alertname: 'Hot' } });
    expect(delivered.map((d) => [d.notification.id, d.notification.status, d.notification.alerts.map((a) => a.id)])).toEqual([['old-1', 'resolved', ['o1']]]);
  });

  it('opens a new group for alerts that come once the group closed', async () => {
    const { stage, flushes, delivered, keys } = setup({ groupWaitMs: 50, groupBy: ['alertname'] });
    await stage.stage(context('a1', { alertname: 'Hot' }, ['webhook']));
    const [first] = [...flushes.asked.values()];
    // The open marker expires just before the flush is due; a newcomer then starts the next group.
    await waitFor(async () => ((await redis.exists(keys.groupOpen(groupKeyOf(first!.flush)))) === 0 ? true : undefined), 5000, 'the group closed');
    await stage.stage(context('a2', { alertname: 'Hot' }, ['webhook']));
    const [, second] = [...flushes.asked.values()];
    expect(second!.flush.notificationId).not.toBe(first!.flush.notificationId);
    await stage.flush(first!.flush);
    await stage.flush(second!.flush);
    expect(delivered.map((d) => d.notification.alerts.map((a) => a.id))).toEqual([['a1'], ['a2']]);
  });
});
