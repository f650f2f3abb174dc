import type pg from 'pg';
import { durationMs, type Config } from '@terminusa/config';
import { whileLocked, withTransaction } from '@terminusa/database';
import { COUNTED_NAMES, EngineError, namesSelector, selector, type VictoriaMetrics } from '../engine/victoria-metrics.ts';
import { tagsOfLabels } from '../engine/import-lines.ts';
import type { PartitionManager } from '../partitions.ts';
import type { SeriesIds } from '../series-ids.ts';
import { TIER_BUCKET_MS, tierRetentionMs, type RollupTier } from '../tiers.ts';
import { HourRows, type RowTiers } from './hour-rows.ts';
import { relieveHeap } from './heap-relief.ts';
import { ALL_METRICS, claimDirty, clearClaimed, markPassed } from './dirty-minutes.ts';
import { LISTED_NAMES_AT_MOST, nameSlices, SERIES_PER_EXPORT } from './export-slices.ts';
import { readWatermarks, setWatermark, type Watermarks } from './watermarks.ts';

const MINUTE_MS = TIER_BUCKET_MS['1m'];
const FIVE_MINUTES_MS = TIER_BUCKET_MS['5m'];
const HOUR_MS = TIER_BUCKET_MS['1h'];
/** Marks worked per claim, so one run's transactions stay bounded. */
const CLAIM_LIMIT = 2_000;
/** Each coarser tier computed from the one before it. */
const CASCADE: [fine: RollupTier, coarse: RollupTier][] = [
  ['1m', '5m'],
  ['5m', '1h'],
  ['1h', '1d'],
];

const alignDown = (t: number, step: number) => Math.floor(t / step) * step;

/** What a rollup run needs. */
export interface RollupContext {
  pool: pg.Pool;
  engine: VictoriaMetrics;
  partitions: PartitionManager;
  series: SeriesIds;
  /** How long a minute must have been over before it is computed (ms). */
  settleMs: number;
  /** How far back the engine holds raw samples (ms): the 1m watermark never starts further back. */
  rawRetentionMs: number;
  /**
   * How long the 1m tier is kept (ms; unset: for ever). A late minute older than that, in a window whose 5m bucket is
   * computed from the engine anyway, gets no 1m rows: retention would drop them unread, and a day's backfill wrote
   * a 1m row per sample into PostgreSQL for nothing.
   */
  minuteRetentionMs?: number;
  /**
   * How long the 5m tier is kept (ms; unset: for ever). A late sample in an hour older than that (a raw retention
   * longer than the 5m tier's) gets its hour's 1h row from the engine, the whole hour read: the hour's other 5m rows
   * are gone, and a 1h row summed from the one window recomputed held a twelfth of the hour.
   */
  fiveMinuteRetentionMs?: number;
  now?: number;
  /** Series one export of every metric covers at most ({@link SERIES_PER_EXPORT}); tests set it low. */
  seriesPerExport?: number;
  /** Rows held before they are written (hour-rows.ts' ROWS_PER_WRITE); tests set it low. */
  rowsPerWrite?: number;
  /**
   * Ends the run early, between two units of work, when aborted (the storage shutting down): each unit is its own
   * transaction and marks stay until their unit is stored, so the next run picks up where this one stopped.
   */
  signal?: AbortSignal;
}

/** The settings of {@link RollupContext} that come from the configuration. */
export function rollupSettings(config: Readonly<Config>): Pick<RollupContext, 'settleMs' | 'rawRetentionMs' | 'minuteRetentionMs' | 'fiveMinuteRetentionMs'> {
  const retention = tierRetentionMs(config);
  return { settleMs: durationMs(config.storage.rollupSettle), rawRetentionMs: retention.raw, minuteRetentionMs: retention['1m'], fiveMinuteRetentionMs: retention['5m'] };
}

/** What one run did. */
export interface RollupReport {
  /** (metric, minute) marks worked (one for all metrics when a minute is reached). */
  minutes: number;
  /** Rows written to the 1m tier from the engine's samples. */
  rows: number;
  /** Whether the run ended early on its signal. */
  stopped?: boolean;
}

/**
 * Computes the rollup tiers from the engine's raw samples. Each value is computed whole from the samples the
 * engine holds, never added to, so a run repeated, a minute computed twice or a sample written twice (the engine
 * keeps one per series and timestamp) changes nothing: that is what makes the tiers exact without a PostgreSQL
 * row per sample. One run at a time (the storage's BullMQ scheduler, and an advisory lock across replicas):
 * 1. the 1m watermark moves to the last minute over for `settleMs`, marking each minute it passes for every metric,
 *    due once its whole 5-minute window has passed (reads take those minutes from the engine meanwhile);
 * 2. each marked (metric, minute), once due (late marks: nobody has marked it for `settleMs`), is read from the
 *    engine, a 5-minute window's marked minutes in one export, and its 1m rows replaced; a minute whose 5m bucket
 *    was already computed (a late sample) has that bucket read whole from the engine and replaced too, then its
 *    1h and 1d buckets recomputed from the 5m and 1h rows of its series;
 * 3. the 5m, 1h and 1d watermarks follow the finer tier, each computing its buckets from the finer tier's rows.
 */
export async function computeRollups(ctx: RollupContext): Promise<RollupReport> {
  // One run at a time across replicas: a scheduled run that finds another still going leaves the work to it.
  return (await whileLocked(ctx.pool, 'terminusa-rollups', (held) => runOnce(ctx, held))) ?? { minutes: 0, rows: 0 };
}

async function runOnce(ctx: RollupContext, held: () => Promise<void>): Promise<RollupReport> {
  // PostgreSQL's clock, which also says when a mark is due: with the storage's clock ahead of it, a window could pass
  // the 1m watermark before its marks were due, and the 5m tier be built from 1m rows not written yet.
  const now = ctx.now ?? Number((await ctx.pool.query<{ now: string }>("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now")).rows[0]!.now);
  await advanceMinutes(ctx, now);
  const report: RollupReport = { minutes: 0, rows: 0 };
  const stopped = () => (ctx.signal?.aborted ? (report.stopped = true) : false);
  for (;;) {
    if (stopped()) return report;
    const { claim, minutes } = await claimDirty(ctx.pool, CLAIM_LIMIT, ctx.settleMs);
    if (minutes.length === 0) break;
    report.minutes += minutes.length;
    for (const [name, ofName] of groupBy(minutes, (m) => m.name)) {
      for (const [hour, inHour] of groupBy(ofName, (m) => alignDown(m.minute, HOUR_MS))) {
        if (stopped()) return report;
        try {
          await held();
          report.rows += await recompute(ctx, claim, name, hour, inHour.map((m) => m.minute));
        } catch (err) {
          // Stopped while reading the engine: the hour's marks stay, and the next run computes it again whole.
          if (stopped()) return report;
          throw err;
        }
      }
    }
    if (minutes.length < CLAIM_LIMIT) break;
  }
  for (const [fine, coarse] of CASCADE) {
    if (stopped()) return report;
    await held();
    await cascade(ctx, fine, coarse);
  }
  return report;
}

/** Step 1: moves the 1m watermark and marks the minutes it passes, in one transaction. */
async function advanceMinutes(ctx: RollupContext, now: number): Promise<void> {
  const target = alignDown(now - ctx.settleMs, MINUTE_MS);
  await withTransaction(ctx.pool, async (client) => {
    const marks = await readWatermarks(client, true);
    if (target <= marks['1m']) return;
    const passed: number[] = [];
    for (let m = Math.max(marks['1m'], alignDown(now - ctx.rawRetentionMs, MINUTE_MS)); m < target; m += MINUTE_MS) passed.push(m);
    if (passed.length) await markPassed(client, passed);
    await setWatermark(client, '1m', target);
  });
}

/**
 * Selectors of every metric with samples on the day of `[from, to)`, in slices of a bounded number of series by the
 * engine's count of that day; one selector of every series when the engine cannot list the names.
 */
async function everyMetricSlices(ctx: RollupContext, from: number, to: number): Promise<string[]> {
  const counts = await ctx.engine.seriesCountByName(from);
  let names = [...counts.keys()];
  if (counts.size >= COUNTED_NAMES) {
    // More names than the engine counts: they are listed, which it refuses for a namespace of more series than its
    // -search.maxUniqueTimeseries (300,000), and cuts at -search.maxTagValues names; either way one export reads all.
    try {
      names = await ctx.engine.names(from, to - 1);
    } catch (err) {
      if (err instanceof EngineError && err.status === 422) return [ctx.engine.everySeries];
      throw err;
    }
    if (names.length >= LISTED_NAMES_AT_MOST) return [ctx.engine.everySeries];
  }
  return nameSlices(names, (n) => counts.get(n) ?? 0, ctx.seriesPerExport ?? SERIES_PER_EXPORT).map(namesSelector);
}

/**
 * Reads `[from, to)` of the metric `name` (or of every metric) from the engine into 1m rows (unless they are not
 * kept) and 5m rows (when a whole 5-minute window), written as they fill. Every metric is read in exports of a
 * bounded number of series (export-slices.ts).
 */
async function readWindow(ctx: RollupContext, name: string, from: number, to: number, rows: HourRows, tiers: RowTiers): Promise<void> {
  const matches = name === ALL_METRICS ? await everyMetricSlices(ctx, from, to) : [selector(name)];
  const pending: { labels: Record<string, string>; timestamps: number[]; values: number[] }[] = [];
  const flush = async () => {
    // A window of a large fleet takes many seconds to read: a shutdown does not wait for it.
    ctx.signal?.throwIfAborted();
    const ids = await ctx.series.resolve(pending.map((s) => ({ name: s.labels.__name__!, tags: tagsOfLabels(s.labels) })));
    pending.forEach((s, i) => rows.add(ids[i]!, s.timestamps, s.values, from, to, tiers));
    pending.length = 0;
    await rows.writeIfFull();
  };
  for (const match of matches) {
    for await (const series of ctx.engine.export(match, from, to - 1, ctx.signal)) {
      pending.push(series);
      if (pending.length >= 5_000) await flush();
    }
    await flush();
    relieveHeap();
  }
}

/**
 * Step 2 for one metric (or all) and one hour: per 5-minute window its marked minutes, or the whole window when
 * its 5m bucket was computed before (a late sample), read from the engine, and its rows replaced as they are read
 * ({@link HourRows}); then, in one transaction, the hour's 1h and its day's 1d rows of the series whose 5m rows
 * changed recomputed, and the marks cleared. The coarser tiers once per hour, not per window: a backfill's late
 * minutes recompute each hour and day once.
 */
async function recompute(ctx: RollupContext, claim: string, name: string, hour: number, minutes: number[]): Promise<number> {
  const marks = await readWatermarks(ctx.pool);
  const rows = new HourRows(ctx.pool, ctx.partitions, hour, ctx.rowsPerWrite);
  const now = ctx.now ?? Date.now();
  // No margin past the retention: a partition retention archived and dropped would be made again by these rows and
  // dropped again unarchived (its range counts as archived already). Reads past the edge take the 5m tier.
  const oldestKept1m = ctx.minuteRetentionMs === undefined ? -Infinity : now - ctx.minuteRetentionMs;
  const oldestKept5m = ctx.fiveMinuteRetentionMs === undefined ? -Infinity : now - ctx.fiveMinuteRetentionMs;
  // An hour computed before whose 5m rows retention may have dropped: its 1h row straight from the whole hour.
  const hourFromEngine = hour + HOUR_MS <= oldestKept5m && hour + HOUR_MS <= marks['1h'];
  if (hourFromEngine) {
    await readWindow(ctx, name, hour, hour + HOUR_MS, rows, { '1m': false, '5m': false, '1h': true });
  } else {
    for (const [window, inWindow] of groupBy(minutes, (m) => alignDown(m, FIVE_MINUTES_MS))) {
      const whole = window + FIVE_MINUTES_MS <= marks['5m'];
      const from = whole ? window : Math.min(...inWindow);
      const to = whole ? window + FIVE_MINUTES_MS : Math.max(...inWindow) + MINUTE_MS;
      // Only a whole window may go without 1m rows: otherwise the 5m cascade computes it from them later.
      await readWindow(ctx, name, from, to, rows, { '1m': !whole || to > oldestKept1m, '5m': whole });
    }
  }
  await rows.write();
  const affected = hourFromEngine ? [...rows.seriesWith1h] : [...rows.seriesWith5m];
  await withTransaction(ctx.pool, async (client) => {
    if (affected.length) {
      for (const [fine, coarse] of CASCADE.slice(hourFromEngine ? 2 : 1)) {
        const bucket = alignDown(hour, TIER_BUCKET_MS[coarse]);
        if (bucket + TIER_BUCKET_MS[coarse] > marks[coarse]) break;
        await ctx.partitions.ensure(coarse, bucket, bucket);
        await client.query(rollUpSql(fine, coarse, true), [new Date(bucket), new Date(bucket + TIER_BUCKET_MS[coarse]), affected]);
      }
    }
    await clearClaimed(client, claim, [name], hour, hour + HOUR_MS);
  });
  return rows.written1m;
}

/**
 * Step 3: computes `coarse` buckets from `fine` rows up to where `fine` is complete: for 5m, never past a minute the
 * 1m watermark passed that is not computed yet (still marked for every metric). The 1m watermark alone said so only
 * while one run went at a time: a run that lost its lock with its connection, overtaken by the next one's step 1,
 * built 5m buckets from 1m rows not written yet.
 */
async function cascade(ctx: RollupContext, fine: RollupTier, coarse: RollupTier): Promise<void> {
  const complete = async (db: pg.Pool | pg.PoolClient, marks: Watermarks) => {
    if (fine !== '1m') return marks[fine];
    const { rows } = await db.query<{ first: Date | null }>('SELECT min(minute) AS first FROM rollup_dirty WHERE name = $1', [ALL_METRICS]);
    return Math.min(marks['1m'], rows[0]?.first?.getTime() ?? Infinity);
  };
  const marks = await readWatermarks(ctx.pool);
  const target = alignDown(await complete(ctx.pool, marks), TIER_BUCKET_MS[coarse]);
  if (target <= marks[coarse]) return;
  await ctx.partitions.ensure(coarse, marks[coarse], target - 1);
  await withTransaction(ctx.pool, async (client) => {
    const locked = await readWatermarks(client, true);
    const upTo = Math.min(target, alignDown(await complete(client, locked), TIER_BUCKET_MS[coarse]));
    if (upTo <= locked[coarse]) return;
    await client.query(rollUpSql(fine, coarse, false), [new Date(locked[coarse]), new Date(upTo)]);
    await setWatermark(client, coarse, upTo);
  });
}

/** Replaces the `coarse` rows of `[$1, $2)` (of the series `$3`, when `someSeries`) with the sums of the `fine` rows under them. */
function rollUpSql(fine: RollupTier, coarse: RollupTier, someSeries: boolean): string {
  return `INSERT INTO rollup_${coarse} AS r (series_id, bucket, count, sum, min, max, last, last_ts)
    SELECT series_id, date_bin('${TIER_BUCKET_MS[coarse] / 1000} seconds', bucket, 'epoch'), sum(count), sum(sum), min(min), max(max),
           (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts)
      FROM rollup_${fine} WHERE bucket >= $1 AND bucket < $2 ${someSeries ? 'AND series_id = ANY($3::bigint[])' : ''}
     GROUP BY 1, 2
    ON CONFLICT (series_id, bucket) DO UPDATE SET
      count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, last = EXCLUDED.last, last_ts = EXCLUDED.last_ts`;
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
