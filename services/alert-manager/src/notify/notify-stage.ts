import type { ChannelName } from '@terminusa/alerting';
import type { OutboxEvent } from '../outbox/outbox-event.ts';

/** One alert event on its way to on-call. */
export interface NotifyContext {
  readonly event: OutboxEvent;
  channels: ChannelName[];
  /** Why it stops here (silenced, inhibited, nowhere to send), if it does. */
  stoppedBy?: string;
}

/** One step of the notification path; it may narrow the channels or stop the event. */
export type NotifyStage = (ctx: NotifyContext) => Promise<void>;

/** Runs stages in order until one stops the event (alertmanager's MultiStage). */
export function notifyPipeline(...stages: NotifyStage[]): NotifyStage {
  return async (ctx) => {
    for (const stage of stages) {
      if (ctx.stoppedBy) return;
      await stage(ctx);
    }
  };
}
