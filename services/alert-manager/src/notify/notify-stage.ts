import type { ChannelName, Notification } from '@terminusa/alerting';
import type { OutboxEvent } from '../outbox/outbox-event.ts';

/** What every stage's context carries: why the notification stops here, once a stage stopped it. */
export interface StageContext {
  /** Why it stops here (silenced, inhibited, nowhere to send, already delivered), if it does. */
  stoppedBy?: string;
}

/** One alert event on its way to on-call: what the stages before grouping see. */
export interface NotifyContext extends StageContext {
  readonly event: OutboxEvent;
  channels: ChannelName[];
}

/** One notification (of one alert, or of a group) on its way to one channel: what the stages after grouping see. */
export interface DeliveryContext extends StageContext {
  /** The delivery's id, one per notification and channel: a replayed delivery has the same one. */
  readonly id: string;
  readonly notification: Notification;
  readonly channel: ChannelName;
}

/** The context of delivering `notification` to `channel`. */
export function deliveryOf(notification: Notification, channel: ChannelName): DeliveryContext {
  return { id: `deliver-${notification.id}-${channel}`, notification, channel };
}

/** One step of the notification path (alertmanager's Stage); it may narrow what goes on, or stop it. */
export type NotifyStage<C extends StageContext = NotifyContext> = (ctx: C) => Promise<void>;

/** Why the silence and inhibit stages stop an event; each is written in the alert's history. */
export type SuppressionReason = 'silenced' | 'inhibited';

/** Records that an event was not sent, and why (the alert history's `silenced` and `inhibited` rows). */
export type RecordSuppression = (ctx: NotifyContext, why: SuppressionReason, detail: Record<string, unknown>) => Promise<void>;

/** Runs stages in order until one stops the context (alertmanager's MultiStage). */
export function notifyPipeline<C extends StageContext>(...stages: NotifyStage<C>[]): NotifyStage<C> {
  return async (ctx) => {
    for (const stage of stages) {
      if (ctx.stoppedBy) return;
      await stage(ctx);
    }
  };
}
