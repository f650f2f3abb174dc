import type { ChannelName } from '@terminusa/alerting';
import type { NotifyStage } from './notify-stage.ts';

/** Where the channels told of a firing alert are kept (the alert's state in Redis). */
export interface NotifiedChannels {
  markNotified(alertId: string, channels: ChannelName[]): Promise<void>;
  /**
   * Records that the alert's firing event went through the notification path to no channel (silenced, inhibited, or
   * routed nowhere), unless channels were recorded for it before: its resolution then goes nowhere, at once.
   */
  markRelayed(alertId: string): Promise<void>;
  /** The channels last recorded for the alert, kept past its state; undefined before its firing event reached the path. */
  notifiedChannels(alertId: string): Promise<ChannelName[] | undefined>;
  /** Records that the alert's resolution was routed: a firing or repeat of it relayed later is sent no more. */
  markResolutionRouted(alertId: string): Promise<void>;
  resolutionRouted(alertId: string): Promise<boolean>;
}

/**
 * Remembers the channels a firing (or re-notified) alert goes to, once it waits in its group, so its resolution goes
 * to the same ones even when it comes while the firing notification is still on its way, and never before the
 * firing is on its way.
 */
export function markNotifiedStage(notified: NotifiedChannels): NotifyStage {
  return async (ctx) => {
    if (ctx.event.kind !== 'resolved') await notified.markNotified(ctx.event.alert.id, ctx.channels);
  };
}
