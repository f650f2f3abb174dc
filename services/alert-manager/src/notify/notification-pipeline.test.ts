import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisAlertReader, type Alert, type Notification, type PgAlertStore } from '@terminusa/alerting';
import { createLogger } from '@terminusa/runtime';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { AlertStateCommands } from '../evaluate/alert-state-commands.ts';
import type { OutboxEvent } from '../outbox/outbox-event.ts';
import type { Channel } from './channels/index.ts';
import type { NotificationHistory } from './notification-history.ts';
import { startNotificationPipeline, type NotificationPipeline } from './notification-pipeline.ts';
import type { NotifyContext } from './notify-stage.ts';
import { FiringNotRelayedYet } from './route-stage.ts';
import { SilenceCache } from './silence-stage.ts';
import { SuppressedAlerts } from './suppressed-alerts.ts';

let ns: TestNamespace;
/** The client the group stage joins groups with: closed to play Redis going away under it. */
let groupsRedis: Redis;
let state: AlertStateCommands;
let pipeline: NotificationPipeline;
const sent: Notification[] = [];

// A short group wait, so the group of the firing alert is flushed (and sent) within the test.
useTestNamespace((opened) => (ns = opened), { alerts: { groupWait: 0.2 } });
beforeAll(() => {
  groupsRedis = ns.redis();
  state = new AlertStateCommands(ns.redis(), ns.config.redis.prefix);
  const webhook: Channel = { name: 'webhook', send: async (n) => void sent.push(n) };
  const history: NotificationHistory = { suppressed: async () => undefined, delivered: async () => undefined, failed: async () => undefined };
  pipeline = startNotificationPipeline(ns.config, {
    redis: groupsRedis,
    keys: state.keys,
    silences: new SilenceCache({ silences: async () => [] } as unknown as PgAlertStore),
    activeAlerts: new RedisAlertReader(ns.redis(), ns.config.redis.prefix),
    notified: state,
    channels: new Map([['webhook', webhook]]),
    history,
    suppressed: new SuppressedAlerts(ns.redis(), state.keys.suppressed, 60_000),
    logger: createLogger({ ...ns.config.log, level: 'error' }, { service: 'alert-manager', instance: 'pipeline-test' }),
  });
});
afterAll(async () => {
  await pipeline?.close();
});

const firedAt = Date.now();
const alert = (resolved: boolean): Alert => ({
  id: 'a1',
  rule: 'Hot',
  severity: 'critical',
  state: resolved ? 'resolved' : 'firing',
  labels: { alertname: 'Hot', host: 'h1' },
  value: 1,
  summary: '',
  message: '',
  startsAt: firedAt,
  firedAt,
  ...(resolved ? { resolvedAt: firedAt + 1 } : {}),
  channels: ['webhook'],
});
// The resolution was written before the firing event was relayed: it carries no channels of its own.
const firing: OutboxEvent = { streamId: '1-0', stateKey: 'state:a1', seq: 1, kind: 'firing', from: 'pending', at: firedAt, alert: alert(false), notified: [] };
const resolved: OutboxEvent = { streamId: '2-0', stateKey: 'state:a1', seq: 2, kind: 'resolved', from: 'firing', at: firedAt + 1, alert: alert(true), notified: [] };
/** The context the outbox relay hands the path for an event, fresh for each try (a replay is a new one). */
const relayed = (event: OutboxEvent): NotifyContext => ({ event, channels: [] });

describe('the notification path', () => {
  it('records a firing alert’s channels only once it joined its group: a firing that failed to join never lets its resolution out first', async () => {
    // Redis goes away under the group stage: the firing alert cannot join its group, and its event fails (the relay
    // replays it later). Its channels must not be recorded: nothing holds the firing yet.
    const closed = once(groupsRedis, 'end');
    groupsRedis.disconnect();
    await closed;
    await expect(pipeline.notify(relayed(firing))).rejects.toThrow('Connection is closed');
    expect(await state.notifiedChannels('a1')).toBeUndefined();

    // Redis is back; the resolution, relayed before the firing's replay, waits for it (tried again later) instead
    // of going out to the recorded channels ahead of the firing, which would leave on-call with a firing alert.
    await groupsRedis.connect();
    await expect(pipeline.notify(relayed(resolved))).rejects.toBeInstanceOf(FiringNotRelayedYet);
    expect(sent).toEqual([]);

    // The firing replayed joins its group, and its channels are recorded once it waits there, before it is sent.
    await pipeline.notify(relayed(firing));
    expect(await state.notifiedChannels('a1')).toEqual(['webhook']);
    await waitFor(() => (sent.length > 0 ? true : undefined), 10_000, 'the firing notification sent');

    // The resolution, tried again, now goes to the channel told of the firing, after it.
    await pipeline.notify(relayed(resolved));
    await waitFor(() => (sent.length > 1 ? true : undefined), 10_000, 'the resolution sent');
    expect(sent.map((n) => [n.status, n.alerts.map((a) => a.id)])).toEqual([
      ['firing', ['a1']],
      ['resolved', ['a1']],
    ]);
  });
});
