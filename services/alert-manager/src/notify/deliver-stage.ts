import type { Alert, ChannelName, Notification } from '@terminusa/alerting';
import type { Logger } from '@terminusa/runtime';
import { DeliveryError, type Channel } from './channels/index.ts';
import type { DeliveryContext, NotifyStage } from './notify-stage.ts';

/** A delivery of one notification to one channel: what the deliver stage queues and each attempt sends. */
export interface Delivery {
  channel: ChannelName;
  notification: Notification;
}

/** How often, and how far apart, a delivery is tried (exponential backoff from `backoffMs`). */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/** Where deliveries wait for their attempts (the BullMQ queue in production: DeliveryQueue); each id is queued once. */
export interface DeliveryJobs {
  enqueue(id: string, delivery: Delivery, retry: RetryPolicy): Promise<void>;
}

/** What deliveries report back: success and final failure per alert, for the alert history. */
export interface DeliveryReport {
  delivered(alert: Alert, notification: Notification, channel: ChannelName): Promise<void>;
  failed(alert: Alert, notification: Notification, channel: ChannelName, error: string): Promise<void>;
}

/** What the queue runs for a delivery: each attempt, and the end of one that is not tried again. */
export interface DeliveryAttempts {
  /** Sends once; rejects with a DeliveryError that says whether to try again (and when), or with any other error to retry. */
  attempt(delivery: Delivery): Promise<void>;
  gaveUp(delivery: Delivery, error: string): Promise<void>;
}

/** The last stage of the notification path: queues the delivery, to be tried until it succeeds or `retry` is spent. */
export function deliverStage(jobs: DeliveryJobs, retry: RetryPolicy): NotifyStage<DeliveryContext> {
  return async (ctx) => {
    await jobs.enqueue(ctx.id, { channel: ctx.channel, notification: ctx.notification }, retry);
  };
}

/**
 * Delivery attempts through the configured channels, each success and final failure reported per alert. A report
 * that fails after a send went out is logged, not thrown: thrown, the job would be tried again and the on-call
 * engineer told twice (or more) for want of a history row.
 */
export function channelDeliveries(channels: ReadonlyMap<ChannelName, Channel>, report: DeliveryReport, logger: Pick<Logger, 'error'>): DeliveryAttempts {
  return {
    async attempt({ channel, notification }) {
      const target = channels.get(channel);
      if (!target) throw new DeliveryError(channel, `channel ${channel} is not configured`, { retryable: false });
      await target.send(notification);
      for (const alert of notification.alerts) {
        await report.delivered(alert, notification, channel).catch((err: unknown) => {
          logger.error('notification delivered, but its history not recorded', { channel, alert: alert.id, err });
        });
      }
    },
    async gaveUp({ channel, notification }, error) {
      await Promise.all(notification.alerts.map((alert) => report.failed(alert, notification, channel, error)));
    },
  };
}
