import type pg from 'pg';
import { ROLLUP_TIERS, type RollupTier } from '../tiers.ts';
import { ALL_METRICS } from './dirty-minutes.ts';

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

/**
 * One row of the watermarks as reads must take them, a column `m<tier>` (timestamptz) per tier. A fold run moves the
 * 1m watermark before it computes the minutes it passed (marked for every metric until they are stored), and over a
 * large fleet computing them takes minutes: a read that took the watermark as it stands would find neither rows
 * nor raw samples for them. So the 1m mark a read uses stops at the oldest such minute, never below the 5m
 * watermark (the coarser tiers follow only minutes already stored). Late samples' marks do not count here: their
 * minutes' rows exist and are recomputed after the settle time.
 */
export const COMPUTED_WATERMARKS_SQL = `SELECT GREATEST(w.m5m, LEAST(w.m1m, (SELECT min(minute) FROM rollup_dirty WHERE name = '${ALL_METRICS}'))) AS m1m,
    ${ROLLUP_TIERS.filter((tier) => tier !== '1m').map((tier) => `w.m${tier}`).join(', ')}
  FROM (SELECT ${ROLLUP_TIERS.map((tier) => `max(until) FILTER (WHERE tier = '${tier}') AS m${tier}`).join(', ')} FROM rollup_watermarks) w`;

/** Up to where each tier's rows can be read, as {@link COMPUTED_WATERMARKS_SQL} says: what history reads plan with. */
export async function readComputedWatermarks(db: pg.Pool | pg.PoolClient): Promise<Watermarks> {
  const { rows } = await db.query<Record<`m${RollupTier}`, Date>>({ name: 'computed-watermarks', text: COMPUTED_WATERMARKS_SQL });
  return Object.fromEntries(ROLLUP_TIERS.map((tier) => [tier, rows[0]![`m${tier}`].getTime()])) as Watermarks;
}
