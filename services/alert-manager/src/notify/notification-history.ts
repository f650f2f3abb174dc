import type { Alert, AlertHistoryEvent, ChannelName, Notification, PgAlertStore } from '@terminusa/alerting';
import type { OutboxEvent } from '../outbox/outbox-event.ts';
import type { DeliveryReport } from './deliver-stage.ts';
import type { RecordSuppression, SuppressionReason } from './notify-stage.ts';

/**
 * The history row of an event the notification path stopped. Its id is the event's and the reason, so a replayed
 * event writes it once.
 */
export function suppressedEvent(event: OutboxEvent, why: SuppressionReason, detail: Record<string, unknown>, at: number): AlertHistoryEvent {
  return { id: `${event.alert.id}:${event.seq}:${why}`, alertId: event.alert.id, kind: why, at, detail: { ...detail } };
}

/** The history row of a notification delivered to a channel, once per alert, notification and channel. */
export function notifiedEvent(alert: Alert, notification: Notification, channel: ChannelName, at: number): AlertHistoryEvent {
  return {
    id: `${alert.id}:${notification.id}:${channel}:notified`,
    alertId: alert.id,
    kind: 'notified',
    at,
    detail: { channel, notification: notification.id, status: notification.status, repeat: notification.repeat, alerts: notification.alerts.length },
  };
}

/** The history row of a delivery given up on, once per alert, notification and channel. */
export function deliveryFailedEvent(alert: Alert, notification: Notification, channel: ChannelName, error: string, at: number): AlertHistoryEvent {
  return { id: `${alert.id}:${notification.id}:${channel}:failed`, alertId: alert.id, kind: 'delivery-failed', at, detail: { channel, notification: notification.id, error } };
}

/** Counts what the notification path did, as the history records it. */
export interface NotificationCounters {
  suppressed(reason: SuppressionReason): void;
  delivery(channel: ChannelName, outcome: 'delivered' | 'failed'): void;
}

/** What the notification path writes in the alert history beside the transitions. */
export interface NotificationHistory extends DeliveryReport {
  suppressed: RecordSuppression;
}

/** The notification path's history rows, written to the alert store and counted. */
export function notificationHistory(store: Pick<PgAlertStore, 'addEvent'>, counters: NotificationCounters): NotificationHistory {
  return {
    async suppressed(ctx, why, detail) {
      counters.suppressed(why);
      await store.addEvent(suppressedEvent(ctx.event, why, detail, Date.now()));
    },
    async delivered(alert, notification, channel) {
      counters.delivery(channel, 'delivered');
      await store.addEvent(notifiedEvent(alert, notification, channel, Date.now()));
    },
    async failed(alert, notification, channel, error) {
      counters.delivery(channel, 'failed');
      await store.addEvent(deliveryFailedEvent(alert, notification, channel, error, Date.now()));
    },
  };
}
