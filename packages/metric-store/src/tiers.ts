import { durationMs, type Config } from '@terminusa/config';

/** The storage tiers: raw samples and the rollups, finest first. */
export const TIERS = ['raw', '1m', '5m', '1h', '1d'] as const;
/** One tier. */
export type Tier = (typeof TIERS)[number];

/** A rollup tier: every tier but raw, whose samples live in the time-series engine. */
export type RollupTier = Exclude<Tier, 'raw'>;
/** The rollup tiers, finest first. */
export const ROLLUP_TIERS: readonly RollupTier[] = ['1m', '5m', '1h', '1d'];

/** Bucket width of each rollup tier in milliseconds (raw has none). */
export const TIER_BUCKET_MS: Record<RollupTier, number> = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 };

/** The PostgreSQL table of a rollup tier, and the column its partitions range over. */
export const TIER_TABLE: Record<RollupTier, { table: string; column: string; partitionMs: number }> = {
  // 1m rows live two hours by default, so hourly partitions let retention drop them on time.
  '1m': { table: 'rollup_1m', column: 'bucket', partitionMs: 3_600_000 },
  '5m': { table: 'rollup_5m', column: 'bucket', partitionMs: 86_400_000 },
  '1h': { table: 'rollup_1h', column: 'bucket', partitionMs: 86_400_000 },
  // A partition per 30 days: a 90-day read of 100 series descends each partition's index once per series, and
  // daily partitions made that 9,000 descents (200 ms). Rows stay until their whole partition is past retention.
  '1d': { table: 'rollup_1d', column: 'bucket', partitionMs: 30 * 86_400_000 },
};

/** How long each tier is kept (ms): raw from storage.retention.raw, the rollups from aggregation.retention. */
export function tierRetentionMs(config: Readonly<Config>): Record<Tier, number> {
  const agg = config.aggregation.retention;
  return {
    raw: durationMs(config.storage.retention.raw),
    '1m': durationMs(agg['1m'] ?? '2h'),
    '5m': durationMs(agg['5m'] ?? '24h'),
    '1h': durationMs(agg['1h'] ?? '7d'),
    '1d': durationMs(agg['1d'] ?? '90d'),
  };
}
