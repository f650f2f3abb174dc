import type pg from 'pg';
import { withTransaction } from '@terminusa/database';
import { TIER_BUCKET_MS } from './tiers.ts';
import type { PartitionManager } from './partitions.ts';

/** rollup_pending rows folded per statement, so a backlog is worked off in bounded transactions. */
const FOLD_BATCH = 200_000;

const TIERS = Object.keys(TIER_BUCKET_MS) as (keyof typeof TIER_BUCKET_MS)[];

/**
 * One tier's additive upsert from the moved rows' 1-minute partial aggregates (`m1`): count and sum add up,
 * min/max widen, last follows the newest ts. Every tier's width is a whole number of minutes aligned to the
 * epoch, so binning the minute buckets gives the same buckets as binning the raw rows, at a fraction of the rows.
 */
function foldInto(tier: keyof typeof TIER_BUCKET_MS): string {
  const width = `${TIER_BUCKET_MS[tier] / 1000} seconds`;
  const source =
    tier === '1m'
      ? 'SELECT series_id, bucket, count, sum, min, max, last, last_ts FROM m1'
      : `SELECT series_id, date_bin('${width}', bucket, 'epoch'), sum(count), sum(sum), min(min), max(max), (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts) FROM m1 GROUP BY 1, 2`;
  return `INSERT INTO rollup_${tier} AS r (series_id, bucket, count, sum, min, max, last, last_ts)
    ${source}
    ON CONFLICT (series_id, bucket) DO UPDATE SET
      count = r.count + EXCLUDED.count, sum = r.sum + EXCLUDED.sum,
      min = LEAST(r.min, EXCLUDED.min), max = GREATEST(r.max, EXCLUDED.max),
      last = CASE WHEN EXCLUDED.last_ts >= r.last_ts THEN EXCLUDED.last ELSE r.last END,
      last_ts = GREATEST(r.last_ts, EXCLUDED.last_ts)`;
}

/**
 * Folds the rows written since the last fold into every rollup tier (1m, 5m, 1h, 1d). Moving a row out of
 * rollup_pending and adding it to the tiers is one statement, so a row is counted exactly once, and a late
 * sample simply adds to its (older) bucket. A row is the samples of a series in one minute (count, sum, min,
 * max, and ts/value of the newest; sum, min and max NULL for one sample). Returns the number of samples folded.
 */
export async function foldRollups(pool: pg.Pool, partitions: PartitionManager): Promise<number> {
  let total = 0;
  for (;;) {
    const { rows } = await pool.query<{ min: Date | null; max: Date | null }>('SELECT min(ts) AS min, max(ts) AS max FROM rollup_pending');
    const { min, max } = rows[0]!;
    if (!min || !max) return total;
    for (const tier of TIERS) await partitions.ensure(tier, min.getTime(), max.getTime());
    const folded = await withTransaction(pool, async (client) => {
      const ctes = TIERS.map((t) => `f${t} AS (${foldInto(t)} RETURNING 1)`).join(',\n');
      const { rows: counted } = await client.query<{ rows: string; samples: string }>(
        `WITH moved AS (DELETE FROM rollup_pending WHERE ctid = ANY (ARRAY(SELECT ctid FROM rollup_pending LIMIT ${FOLD_BATCH})) RETURNING series_id, ts, value, count, sum, min, max),
         m1 AS (
           SELECT series_id, date_bin('60 seconds', ts, 'epoch') AS bucket, sum(count)::bigint AS count, sum(coalesce(sum, value)) AS sum,
                  min(coalesce(min, value)) AS min, max(coalesce(max, value)) AS max, (array_agg(value ORDER BY ts DESC))[1] AS last, max(ts) AS last_ts
             FROM moved GROUP BY 1, 2
         ),
         ${ctes}
         SELECT count(*) AS rows, coalesce(sum(count), 0)::bigint AS samples FROM moved`,
      );
      return { rows: Number(counted[0]!.rows), samples: Number(counted[0]!.samples) };
    });
    total += folded.samples;
    if (folded.rows < FOLD_BATCH) return total;
  }
}
