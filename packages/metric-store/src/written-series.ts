import type { Redis } from 'ioredis';
import type { IngestSample } from '@terminusa/bus';
import { sortTags } from './series-key.ts';

/** How many rounds a round's list of series outlives it: a late or skipped round still finds it. */
const KEPT_ROUNDS = 10;

/**
 * The series a producer that writes in rounds (a scrape target, a recording rule) wrote in its last round, kept in
 * Redis so that whichever replica runs the next round can give each series it no longer writes a staleness marker,
 * as Prometheus does when a series leaves a scrape or a rule's result: queries stop seeing it at once instead of
 * after the lookback window. A series is its name and sorted tags; one round's list is one JSON string.
 */
export class WrittenSeries {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    /** Time between two rounds: a round's list is kept for KEPT_ROUNDS of them, so a producer gone (a target or rule removed) leaves nothing behind. */
    private readonly intervalMs: number,
  ) {}

  /** Staleness markers at `ts` for the series of the last round that `samples` (this round's) do not hold. */
  async markersFor(samples: readonly IngestSample[], ts: number): Promise<IngestSample[]> {
    const before = await this.redis.get(this.key);
    if (before === null) return [];
    const now = new Set(samples.map(identity));
    const markers: IngestSample[] = [];
    for (const series of JSON.parse(before) as string[]) {
      if (now.has(series)) continue;
      const [name, tags] = JSON.parse(series) as [string, Record<string, string>];
      markers.push({ name, stale: true, ts, tags });
    }
    return markers;
  }

  /** Records this round's series (call it once the round's samples are published, so a failed round is marked again). */
  async remember(samples: readonly IngestSample[]): Promise<void> {
    const series = new Set(samples.filter((s) => !s.stale).map(identity));
    await this.redis.set(this.key, JSON.stringify([...series]), 'PX', KEPT_ROUNDS * this.intervalMs);
  }
}

function identity(sample: IngestSample): string {
  return JSON.stringify([sample.name, sortTags(sample.tags ?? {})]);
}
