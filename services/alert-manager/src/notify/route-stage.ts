import type { ChannelName } from '@terminusa/alerting';
import type { NotifiedChannels } from './mark-notified-stage.ts';
import type { NotifyStage } from './notify-stage.ts';

/** How long after an alert fired its resolution waits for the firing event to be relayed (longer: sent as it is). */
const FIRING_RELAY_WAIT_MS = 3_600_000;

/** A resolution relayed before its alert's firing event (another replica has it, or it is being retried): tried again later. */
export class FiringNotRelayedYet extends Error {
  /** Expected now and then (the relay says so without alarm), not a failure. */
  readonly retryLater = true;

  constructor(alertId: string) {
    super(`the firing event of alert ${alertId} has not reached the notification path yet: its resolution is tried again once it has`);
    this.name = 'FiringNotRelayedYet';
  }
}

/**
 * Chooses the channels: a firing alert goes to its rule's or severity's channels, a resolution only to the
 * channels that were told it fired (those its event carries, and those recorded since: its firing event may have
 * been relayed after the resolution was written); channels that are not configured are left out.
 */
export function routeStage(configured: ReadonlySet<ChannelName>, notified: Omit<NotifiedChannels, 'markNotified'>, now: () => number = Date.now): NotifyStage {
  return async (ctx) => {
    const { id } = ctx.event.alert;
    let wanted = ctx.event.alert.channels;
    if (ctx.event.kind === 'resolved') {
      const recorded = await notified.notifiedChannels(id);
      // Its firing event not relayed yet (alerts of one rule go to whichever replica reads them): sent without the
      // channels told of the firing, the resolution would go nowhere and on-call keep a firing alert.
      const firedAt = ctx.event.alert.firedAt ?? ctx.event.alert.startsAt;
      if (recorded === undefined && ctx.event.notified.length === 0 && now() - firedAt < FIRING_RELAY_WAIT_MS) throw new FiringNotRelayedYet(id);
      wanted = [...new Set([...ctx.event.notified, ...(recorded ?? [])])];
      await notified.markResolutionRouted(id);
    } else if (await notified.resolutionRouted(id)) {
      // A firing or repeat relayed after its resolution (retried, or read by another replica): sent, it told the
      // receivers the alert fired again, and no resolution followed.
      ctx.stoppedBy = 'resolved-already';
      return;
    }
    ctx.channels = wanted.filter((c) => configured.has(c));
    if (ctx.channels.length > 0) return;
    ctx.stoppedBy = 'no-channel';
    if (ctx.event.kind !== 'resolved') await notified.markRelayed(id);
  };
}
