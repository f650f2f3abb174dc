import type pg from 'pg';
import type { RollupTier } from '../tiers.ts';

/** Up to where (epoch ms, exclusive) each tier's buckets have been computed; later buckets are read from finer tiers and the engine. */
export type Watermarks = Record<RollupTier, number>;

/** The watermarks as they stand (`FOR UPDATE` in a transaction that moves them). */
export async function readWatermarks(db: pg.Pool | pg.PoolClient, forUpdate = false): Promise<Watermarks> {
  const { rows } = await db.query<{ tier: RollupTier; until: Date }>(`SELECT tier, until FROM rollup_watermarks${forUpdate ? ' FOR UPDATE' : ''}`);
  const marks = {} as Watermarks;
  for (const r of rows) marks[r.tier] = r.until.getTime();
  return marks;
}

export async function setWatermark(db: pg.PoolClient, tier: RollupTier, until: number): Promise<void> {
  await db.query('UPDATE rollup_watermarks SET until = $2 WHERE tier = $1', [tier, new Date(until)]);
}
