import type pg from 'pg';
import { whileLocked, withTransaction } from '@terminusa/database';
import { importLines, type VictoriaMetrics, type WriteMark } from '@terminusa/metric-store';
import type { Sample } from '@terminusa/bus';
import type { ArchiveIndex } from '../archive/archive-index.ts';
import { LegacyHourFiles } from './legacy-hour-files.ts';
import { RETENTION_LOCK } from '../retention/apply-retention.ts';

/** Blocks read and written at a time. */
const CHUNK = 5_000;
const HOUR_MS = 3_600_000;

/** Where the samples go. */
export interface MoveTargets {
  engine: VictoriaMetrics;
  /** Holds the hours the engine would not keep. */
  archive: ArchiveIndex;
  /**
   * The oldest time the engine keeps (epoch ms): it drops an older sample silently when it arrives, so older samples go
   * to the archive instead. An hour after the engine's retention edge, so the edge does not pass samples mid-move.
   */
  keepFrom: number;
}

/** The oldest time a move keeps in an engine of `engineRetentionMs` (see {@link MoveTargets.keepFrom}). */
export function moveKeepFrom(engineRetentionMs: number, now = Date.now()): number {
  return Math.ceil((now - engineRetentionMs) / HOUR_MS) * HOUR_MS + HOUR_MS;
}

type BlockRow = { name: string; tags: Record<string, string>; ts: number[]; value: number[] };

/**
 * Moves the raw samples an older version kept in PostgreSQL (migration 10 renamed them `legacy_sample_blocks`):
 * those the engine keeps into the engine, the older ones into the archive as hour files of the engine's JSON-lines
 * format (listed and loaded back as the retention's raw hours are), then drops the table. Their rollups were computed
 * back then, so only the raw samples move. The engine keeps one sample per series and timestamp and an hour's file
 * is written whole under its name again, so a move cut short is simply run again.
 */
export async function moveLegacyRaw(pool: pg.Pool, { engine, archive, keepFrom }: MoveTargets): Promise<{ blocks: number; samples: number; archived: number }> {
  const { rows } = await pool.query<{ present: boolean }>("SELECT to_regclass('legacy_sample_blocks') IS NOT NULL AS present");
  if (!rows[0]!.present) return { blocks: 0, samples: 0, archived: 0 };
  let blocks = 0;
  let samples = 0;
  let first: WriteMark | undefined;
  await eachChunk(pool, 'b.ts_max >= $1', [new Date(keepFrom)], async (chunk) => {
    const batch: Sample[] = [];
    for (const b of chunk) b.ts.forEach((ts, i) => ts >= keepFrom && batch.push({ name: b.name, tags: b.tags, ts, value: b.value[i]! }));
    const mark = await engine.import(importLines(batch));
    first ??= mark;
    blocks += chunk.length;
    samples += batch.length;
  });
  await engine.sync(first);
  // Oldest first, so an hour is complete, and written, once a block starts after it. Under the retention lock, which
  // every writer of the archive's index holds (waited for: a retention run ends within minutes).
  const toArchive = async (held: () => Promise<void>) => {
    const hours = new LegacyHourFiles(archive, held);
    await eachChunk(pool, 'b.ts_min < $1 ORDER BY b.ts_min', [new Date(keepFrom)], async (chunk) => {
      for (const b of chunk) {
        await hours.completeBefore(Math.floor(b.ts[0]! / HOUR_MS) * HOUR_MS);
        b.ts.forEach((ts, i) => ts < keepFrom && hours.add({ name: b.name, tags: b.tags, ts, value: b.value[i]! }));
        if (b.ts[b.ts.length - 1]! < keepFrom) blocks++;
      }
    });
    return hours.completeBefore(Number.POSITIVE_INFINITY);
  };
  let archived: number | undefined;
  while ((archived = await whileLocked(pool, RETENTION_LOCK, toArchive)) === undefined) await new Promise((resolve) => setTimeout(resolve, 1000));
  await pool.query('DROP TABLE legacy_sample_blocks CASCADE');
  return { blocks, samples, archived };
}

/** Reads the legacy blocks matching `where` through a cursor, `CHUNK` at a time, with timestamps as epoch ms. */
async function eachChunk(pool: pg.Pool, where: string, params: unknown[], work: (chunk: BlockRow[]) => Promise<void>): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(
      `DECLARE legacy NO SCROLL CURSOR FOR
        SELECT s.name, s.tags, array(SELECT round(extract(epoch FROM t) * 1000)::float8 FROM unnest(b.ts) t) AS ts, b.value
          FROM legacy_sample_blocks b JOIN series s ON s.id = b.series_id WHERE ${where}`,
      params,
    );
    for (;;) {
      const { rows: chunk } = await client.query<BlockRow>(`FETCH ${CHUNK} FROM legacy`);
      if (chunk.length === 0) break;
      await work(chunk);
    }
    await client.query('CLOSE legacy');
  });
}
