import pg from 'pg';
import { engineRetentionDays, type Config } from '@terminusa/config';
import { whileLocked } from '@terminusa/database';
import { keptPastRetentionMs, readWatermarks, ROLLUP_TIERS, TIER_TABLE, type PartitionManager, type Tier, type VictoriaMetrics } from '@terminusa/metric-store';
import type { ArchiveIndex } from '../archive/archive-index.ts';
import { archiveRange } from '../archive/archive-partition.ts';
import { archiveRawHours, type RetentionRun } from '../archive/archive-raw.ts';
import { deleteStaleSnapshots, snapshotMaxAgeMs } from './stale-snapshots.ts';

/** The advisory lock of whatever rewrites the archive's index: a retention run, a legacy move's archive phase. */
export const RETENTION_LOCK = 'terminusa-retention';

/** How old a temporary archive file must be before a run removes it as a killed run's. */
const STALE_TEMPORARY_MS = 86_400_000;

/** What one retention run did. */
export interface RetentionReport {
  dropped: string[];
  archived: number;
  deletedFromDefault: number;
  /** Engine snapshots left behind by killed processes, deleted. */
  snapshotsDeleted: string[];
}

/** A retention run's moment and stop signal, and how old an engine snapshot may grow (none swept when unset). */
export interface RetentionOptions extends RetentionRun {
  snapshotMaxAgeMs?: number;
  /**
   * How far back the engine holds raw samples (its -retentionPeriod; the raw retention when unset): hours older than
   * the raw retention but still in the engine (after downtime) are archived too.
   */
  engineRetentionMs?: number;
}

/** The settings of retention runs that come from the configuration: how old a snapshot and a raw hour may get. */
export function retentionSettings(config: Readonly<Config>): Pick<RetentionOptions, 'snapshotMaxAgeMs' | 'engineRetentionMs'> {
  const snapshotMaxAge = snapshotMaxAgeMs(config);
  return { ...(snapshotMaxAge === undefined ? {} : { snapshotMaxAgeMs: snapshotMaxAge }), engineRetentionMs: engineRetentionDays(config) * 86_400_000 };
}

/**
 * Removes rollup rows past each tier's retention by dropping whole partitions, after writing them to the archive;
 * never rows the next coarser tier has not been computed from yet (past its watermark).
 * Rows past retention in a default partition (restored or loaded-back data) are archived and deleted.
 * Ranges already in the archive (loaded back earlier) are not archived twice. Raw samples leave the engine by
 * its own retention; every hour of them is archived here first, as soon as it is over. Stopped by `run.signal`
 * (a shutdown), it ends between or inside archive files, nothing dropped that was not archived. Engine snapshots
 * older than `run.snapshotMaxAgeMs` go first. One run at a time across replicas and `tmon-storage retention` (a
 * run longer than the interval overlapped the next, two writers of one archive file and of the index).
 */
export async function applyRetention(pool: pg.Pool, engine: VictoriaMetrics, partitions: PartitionManager, index: ArchiveIndex, retention: Record<Tier, number>, run: RetentionOptions = {}): Promise<RetentionReport> {
  const both = (held: () => Promise<void>) => async () => {
    await held();
    await run.held?.();
  };
  return (await whileLocked(pool, RETENTION_LOCK, (held) => retain(pool, engine, partitions, index, retention, { ...run, held: both(held) }))) ?? { dropped: [], archived: 0, deletedFromDefault: 0, snapshotsDeleted: [] };
}

async function retain(pool: pg.Pool, engine: VictoriaMetrics, partitions: PartitionManager, index: ArchiveIndex, retention: Record<Tier, number>, run: RetentionOptions): Promise<RetentionReport> {
  const { now = Date.now(), signal, held = async () => undefined } = run;
  const report: RetentionReport = { dropped: [], archived: 0, deletedFromDefault: 0, snapshotsDeleted: [] };
  // Written by runs killed midway; a day is far longer than any run writes one file.
  await index.removeStaleTemporaries(STALE_TEMPORARY_MS, now);
  if (run.snapshotMaxAgeMs !== undefined) report.snapshotsDeleted = await deleteStaleSnapshots(engine, run.snapshotMaxAgeMs, now);
  for (const entry of await archiveRawHours(pool, engine, index, run.engineRetentionMs ?? retention.raw, { now, signal, held })) report.archived += entry.rows;
  const archived = await index.entries();
  const already = (tier: Tier, from: number, to: number) => archived.some((e) => e.tier === tier && e.from <= from && e.to >= to);
  const marks = await readWatermarks(pool);
  for (const [i, tier] of ROLLUP_TIERS.entries()) {
    // A finer tier's rows are what the next tier is computed from: those it has not passed yet stay, however old
    // (after an engine outage the catch-up writes hours of 1m rows past retention, and dropped before the 5m cascade
    // read them they left holes in 5m, 1h and 1d for good).
    const coarser = ROLLUP_TIERS[i + 1];
    // Past retention still, as history reads use a tier for ranges starting a minute past it, and a late sample's
    // recompute reads the 5m and 1h tiers an hour past it (keptPastRetentionMs).
    const cutoff = Math.min(now - retention[tier] - keptPastRetentionMs(tier), coarser ? marks[coarser] : Infinity);
    const { table, column } = TIER_TABLE[tier];
    for (const p of await partitions.list(tier)) {
      if (p.to > cutoff) continue;
      signal?.throwIfAborted();
      // Read through the parent over exactly the partition's bounds (which selects that partition alone): the
      // storage's role may read the tier's table but not each partition by name.
      if (!already(tier, p.from, p.to)) {
        await held();
        report.archived += (await archiveRange(pool, index, tier, table, p.from, p.to, signal, held)).rows;
      }
      // Asked again after the archive file: a run that lost its lock meanwhile leaves the drop to the run that has it.
      await held();
      await partitions.drop(p.name);
      report.dropped.push(p.name);
    }
    const def = `${table}_default`;
    const { rows } = await pool.query<{ min: Date | null; max: Date | null }>(`SELECT min(${column}) AS min, max(${column}) AS max FROM ${pg.escapeIdentifier(def)} WHERE ${column} < $1`, [
      new Date(cutoff),
    ]);
    if (rows[0]?.min && rows[0].max) {
      const from = rows[0].min.getTime();
      const to = rows[0].max.getTime() + 1;
      signal?.throwIfAborted();
      if (!already(tier, from, to)) {
        await held();
        report.archived += (await archiveRange(pool, index, tier, def, from, to, signal, held)).rows;
      }
      await held();
      const { rowCount } = await pool.query(`DELETE FROM ${pg.escapeIdentifier(def)} WHERE ${column} < $1`, [new Date(cutoff)]);
      report.deletedFromDefault += rowCount ?? 0;
    }
  }
  return report;
}
