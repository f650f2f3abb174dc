import { matchesAll, type PgAlertStore, type Silence } from '@terminusa/alerting';
import type { NotifyStage, RecordSuppression } from './notify-stage.ts';

/** Active silences, read from PostgreSQL at most every `maxAgeMs` (or at once after `invalidate`). */
export class SilenceCache {
  private silences: Silence[] = [];
  private loadedAt = 0;

  constructor(
    private readonly store: PgAlertStore,
    private readonly maxAgeMs = 1000,
  ) {}

  invalidate(): void {
    this.loadedAt = 0;
  }

  /** Silences in force at `now`; expired ones end by themselves because only those not yet ended are kept. */
  async active(now = Date.now()): Promise<Silence[]> {
    if (now - this.loadedAt > this.maxAgeMs) {
      this.silences = await this.store.silences(now);
      this.loadedAt = now;
    }
    return this.silences.filter((s) => s.startsAt <= now && s.endsAt > now);
  }
}

/** The silence among `silences` that matches `labels`, if one does. */
export function silencing(silences: readonly Silence[], labels: Readonly<Record<string, string>>): Silence | undefined {
  return silences.find((s) => matchesAll(s.matchers, labels));
}

/**
 * Stops a notification when a silence matches the alert's labels; the alert's state changes are still recorded. Not
 * a resolution, as inhibition lets it through: it goes to the channels told of the firing (none when the firing was
 * silenced too), and a silence added after a page left the receivers with an alert firing for good.
 */
export function silenceStage(cache: SilenceCache, record: RecordSuppression): NotifyStage {
  return async (ctx) => {
    if (ctx.event.kind === 'resolved') return;
    const silence = silencing(await cache.active(), ctx.event.alert.labels);
    if (!silence) return;
    ctx.stoppedBy = 'silenced';
    await record(ctx, 'silenced', { silence: silence.id, comment: silence.comment, createdBy: silence.createdBy });
  };
}
