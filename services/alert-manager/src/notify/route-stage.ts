import type { ChannelName } from '@terminusa/alerting';
import type { NotifyStage } from './notify-stage.ts';

/**
 * Chooses the channels: a firing alert goes to its rule's or severity's channels, a resolution only to the
 * channels that were told it fired; channels that are not configured are left out.
 */
export function routeStage(configured: ReadonlySet<ChannelName>): NotifyStage {
  return async (ctx) => {
    const wanted = ctx.event.kind === 'resolved' ? ctx.event.notified : ctx.event.alert.channels;
    ctx.channels = wanted.filter((c) => configured.has(c));
    if (ctx.channels.length === 0) ctx.stoppedBy = 'no-channel';
  };
}
