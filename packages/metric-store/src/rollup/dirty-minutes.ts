import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Sample } from '@terminusa/bus';
import { TIER_BUCKET_MS } from '../tiers.ts';

const MINUTE_MS = TIER_BUCKET_MS['1m'];
/** The window of minutes the watermark passes that are computed together: the 5m bucket. */
const WINDOW_MS = TIER_BUCKET_MS['5m'];

/** Marks every minute: the rollup run reads all metrics of it (a minute it has just reached). */
export const ALL_METRICS = '';

/** A (metric, minute) whose rollups must be computed (again) from the engine. */
export interface DirtyMinute {
  name: string;
  minute: number;
}

/**
 * Marks the (metric, minute) pairs of `samples` that lie before the 1m watermark, i.e. whose rollups were already
 * computed without them. Called after the engine holds the samples: the rollup run moves the watermark before it
 * reads the engine, so a sample is either read by that run or marked here. A mark being worked on is un-claimed,
 * so it is computed once more after the run that missed this sample.
 */
export async function markLate(db: pg.Pool, samples: readonly Sample[]): Promise<number> {
  const { rows } = await db.query<{ until: Date }>({ name: 'rollup-watermark-1m', text: "SELECT until FROM rollup_watermarks WHERE tier = '1m'" });
  const until = rows[0]!.until.getTime();
  // Minutes by metric, and the run of samples of one (metric, minute) skipped at once: in a backfill every sample
  // is late, and a string key per sample was a twentieth of the storage's time.
  const late = new Map<string, Set<number>>();
  let lastName: string | undefined;
  let lastMinute = NaN;
  for (const s of samples) {
    if (s.ts >= until) continue;
    const minute = Math.floor(s.ts / MINUTE_MS) * MINUTE_MS;
    if (minute === lastMinute && s.name === lastName) continue;
    lastName = s.name;
    lastMinute = minute;
    let minutes = late.get(s.name);
    if (!minutes) late.set(s.name, (minutes = new Set()));
    minutes.add(minute);
  }
  const marks: DirtyMinute[] = [];
  for (const [name, minutes] of late) for (const minute of minutes) marks.push({ name, minute });
  if (marks.length > 0) await markDirty(db, marks);
  return marks.length;
}

/**
 * Marks minutes to be computed again; a mark being worked on is un-claimed, so its run does not clear it. A late
 * mark waits until nobody has marked it for the settle time (a backfill marks each minute many times).
 */
async function markDirty(db: pg.Pool | pg.PoolClient, minutes: readonly DirtyMinute[]): Promise<void> {
  const sorted = [...minutes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.minute - b.minute));
  await db.query(
    `INSERT INTO rollup_dirty (name, minute, marked_at) SELECT n, m, now() FROM unnest($1::text[], $2::timestamptz[]) AS t(n, m)
     ON CONFLICT (name, minute) DO UPDATE SET claim = NULL, marked_at = GREATEST(rollup_dirty.marked_at, EXCLUDED.marked_at)`,
    [sorted.map((m) => m.name), sorted.map((m) => new Date(m.minute))],
  );
}

/**
 * Marks the minutes the 1m watermark passes, for every metric. Each is due once its whole 5-minute window is over for
 * the settle time (its `marked_at` is the window's end, which {@link claimDirty} compares with now − settle), so a
 * run reads a window of every series from the engine at once: the engine's cost of a read is per series more than
 * per sample (a minute of a million series took 8–12 s to export, five minutes hardly longer).
 */
export async function markPassed(db: pg.Pool | pg.PoolClient, minutes: readonly number[]): Promise<void> {
  await db.query(
    `INSERT INTO rollup_dirty (name, minute, marked_at)
       SELECT $1, m, date_bin('${WINDOW_MS / 1000} seconds', m, 'epoch') + interval '${WINDOW_MS / 1000} seconds' FROM unnest($2::timestamptz[]) AS t(m)
     ON CONFLICT (name, minute) DO UPDATE SET claim = NULL, marked_at = GREATEST(rollup_dirty.marked_at, EXCLUDED.marked_at)`,
    [ALL_METRICS, minutes.map((m) => new Date(m))],
  );
}

/** Claims the marks nobody touched for `settleMs` (up to `limit`, oldest first) under a fresh token, which {@link clearClaimed} clears once the work is stored. */
export async function claimDirty(db: pg.Pool, limit: number, settleMs: number): Promise<{ claim: string; minutes: DirtyMinute[] }> {
  const claim = randomUUID();
  const { rows } = await db.query<{ name: string; minute: Date }>(
    `UPDATE rollup_dirty SET claim = $1 WHERE (name, minute) IN (
       SELECT name, minute FROM rollup_dirty WHERE marked_at <= now() - $3::interval ORDER BY minute, name LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING name, minute`,
    [claim, limit, `${settleMs} milliseconds`],
  );
  return { claim, minutes: rows.map((r) => ({ name: r.name, minute: r.minute.getTime() })) };
}

/** Clears the claimed marks of `names` in `[from, to)` that nobody marked again since. */
export async function clearClaimed(db: pg.PoolClient, claim: string, names: readonly string[], from: number, to: number): Promise<void> {
  await db.query('DELETE FROM rollup_dirty WHERE claim = $1 AND name = ANY($2::text[]) AND minute >= $3 AND minute < $4', [claim, names, new Date(from), new Date(to)]);
}
