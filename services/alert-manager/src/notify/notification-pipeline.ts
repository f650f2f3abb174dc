import type { Redis } from 'ioredis';
import type { alertKeys, ChannelName, RedisAlertReader } from '@terminusa/alerting';
import type { Config } from '@terminusa/config';
import { redisOptions, type Logger } from '@terminusa/runtime';
import type { Channel } from './channels/index.ts';
import { dedupStage } from './dedup-stage.ts';
import { channelDeliveries, deliverStage } from './deliver-stage.ts';
import { DeliveryQueue } from './delivery-queue.ts';
import { groupStage } from './group-stage.ts';
import { inhibitedBy, inhibitStage } from './inhibit-stage.ts';
import { markNotifiedStage, type NotifiedChannels } from './mark-notified-stage.ts';
import type { NotificationHistory } from './notification-history.ts';
import { notifyPipeline, type DeliveryContext, type NotifyStage, type RecordSuppression } from './notify-stage.ts';
import { RedisNotificationGroups } from './redis-notification-groups.ts';
import { routeStage } from './route-stage.ts';
import { silenceStage, silencing, type SilenceCache } from './silence-stage.ts';
import type { SuppressedAlerts, Suppression } from './suppressed-alerts.ts';

/** What the notification path is built from. */
export interface NotificationPipelineDeps {
  redis: Redis;
  keys: Pick<ReturnType<typeof alertKeys>, 'groupOpen' | 'groupSet'>;
  silences: SilenceCache;
  activeAlerts: RedisAlertReader;
  notified: NotifiedChannels;
  channels: ReadonlyMap<ChannelName, Channel>;
  history: NotificationHistory;
  /** Where alerts whose firing was silenced or inhibited are remembered, to be notified once that lifts. */
  suppressed: SuppressedAlerts;
  logger: Logger;
}

/** The running notification path: where alert events enter it, and its stop. */
export interface NotificationPipeline {
  readonly notify: NotifyStage;
  /** Whether a silence or an inhibition stops an alert's notification now. */
  readonly suppression: Suppression;
  close(): Promise<void>;
}

/**
 * Assembles the notification path in one place, as alertmanager's PipelineBuilder does, and starts the worker that
 * runs its queued part: silence → inhibit → route → group → mark notified, then for each notification and channel
 * dedup → deliver with retry. The stages' history rows go to `history`.
 */
export function startNotificationPipeline(config: Pick<Config, 'alerts' | 'core' | 'redis'>, deps: NotificationPipelineDeps): NotificationPipeline {
  const { alerts } = config;
  const queue = new DeliveryQueue(redisOptions(config, 'blocking'), `${config.redis.prefix}bull`, deps.logger);
  const deliver = notifyPipeline<DeliveryContext>(dedupStage(queue), deliverStage(queue, { attempts: alerts.deliveryAttempts, backoffMs: alerts.deliveryBackoffMs }));
  const acknowledged = async (ids: readonly string[]) => {
    const now = await Promise.all(ids.map((id) => deps.activeAlerts.byId(id)));
    return new Set(now.filter((alert) => alert?.ack !== undefined).map((alert) => alert!.id));
  };
  const group = groupStage(new RedisNotificationGroups(deps.redis, deps.keys), queue, { groupWaitMs: alerts.groupWait * 1000, groupBy: alerts.groupBy }, deliver, acknowledged);
  const suppressed: RecordSuppression = async (ctx, why, detail) => {
    await deps.history.suppressed(ctx, why, detail);
    if (ctx.event.kind === 'resolved') return;
    // Decided only here, not before the path ran: a firing event that failed on its way (a replica killed, a read
    // failing) was already marked sent nowhere, and its resolution went nowhere while it was retried and sent.
    await deps.notified.markRelayed(ctx.event.alert.id);
    await deps.suppressed.remember(ctx.event.stateKey, ctx.event.alert.id);
  };
  const notify = notifyPipeline(
    silenceStage(deps.silences, suppressed),
    inhibitStage(deps.activeAlerts, alerts.inhibitEqual, suppressed),
    routeStage(new Set(deps.channels.keys()), deps.notified),
    // Recorded once the group holds the firing alert, not before: a firing that failed to join its group (Redis
    // away, the replica killed) had its channels recorded, so its resolution went out first, then the firing
    // replayed after it, and on-call was left with an alert that looked firing for good.
    group.stage,
    markNotifiedStage(deps.notified),
  );
  queue.start({ flush: group.flush, ...channelDeliveries(deps.channels, deps.history, deps.logger) }, config.core.workers, config.core.timeout * 1000);
  const suppression: Suppression = async () => {
    const [silences, active] = await Promise.all([deps.silences.active(), deps.activeAlerts.active()]);
    return (alert) => silencing(silences, alert.labels) !== undefined || inhibitedBy(alert, active, alerts.inhibitEqual) !== undefined;
  };
  return { notify, suppression, close: () => queue.close() };
}
