/** The storage tiers: raw samples and the rollups, finest first. */
export const TIERS = ['raw', '1m', '5m', '1h', '1d'] as const;
/** One tier. */
export type Tier = (typeof TIERS)[number];

/** Bucket width of each rollup tier in milliseconds (raw has none). */
export const TIER_BUCKET_MS: Record<Exclude<Tier, 'raw'>, number> = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 };

/** The PostgreSQL table of a tier, and the column its partitions range over. */
export const TIER_TABLE: Record<Tier, { table: string; column: string; partitionMs: number }> = {
  // Raw samples are stored in blocks (a series' samples in one minute of a batch), partitioned by their first sample.
  raw: { table: 'sample_blocks', column: 'ts_min', partitionMs: 86_400_000 },
  // 1m rows live two hours by default, so hourly partitions let retention drop them on time.
  '1m': { table: 'rollup_1m', column: 'bucket', partitionMs: 3_600_000 },
  '5m': { table: 'rollup_5m', column: 'bucket', partitionMs: 86_400_000 },
  '1h': { table: 'rollup_1h', column: 'bucket', partitionMs: 86_400_000 },
  '1d': { table: 'rollup_1d', column: 'bucket', partitionMs: 86_400_000 },
};
