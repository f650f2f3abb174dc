import type { ChannelName } from '@terminusa/alerting';
import type { NotifiedChannels } from './mark-notified-stage.ts';
import type { NotifyStage } from './notify-stage.ts';

/**
 * Chooses the channels: a firing alert goes to its rule's or severity's channels, a resolution only to the
 * channels that were told it fired (those its event carries, and those recorded since: its firing event may have
 * been relayed after the resolution was written); channels that are not configured are left out.
 */
export function routeStage(configured: ReadonlySet<ChannelName>, notified: Pick<NotifiedChannels, 'notifiedChannels'>): NotifyStage {
  return async (ctx) => {
    const wanted = ctx.event.kind === 'resolved' ? [...new Set([...ctx.event.notified, ...(await notified.notifiedChannels(ctx.event.alert.id))])] : ctx.event.alert.channels;
    ctx.channels = wanted.filter((c) => configured.has(c));
    if (ctx.channels.length === 0) ctx.stoppedBy = 'no-channel';
  };
}
