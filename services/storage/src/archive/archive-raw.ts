import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { readWatermarks, type VictoriaMetrics, type WriteMark } from '@terminusa/metric-store';
import type pg from 'pg';
import { temporaryPath, writeThrough, type ArchiveEntry, type ArchiveIndex } from './archive-index.ts';
import { renameDurably } from '@terminusa/runtime';

const HOUR_MS = 3_600_000;
/** An archive file name's time: `20261207T031500Z`. */
export const archiveFileStamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** When a retention run happens and what stops it early. */
export interface RetentionRun {
  /** The present that retention counts back from; defaults to the clock. */
  now?: number;
  /** Aborted at shutdown: the run stops where it is, and what it had not archived is archived by the next one. */
  signal?: AbortSignal;
  /** Rejects once the run's lock is gone (whileLocked): asked before each file, so a run that lost it writes no more. */
  held?: () => Promise<void>;
}

/**
 * Writes each raw hour that is over (its 1h rollups computed) and still in the engine to the archive, in the
 * engine's native export format, before the engine's retention removes it. An hour already archived with as many
 * samples as its 1h rollups count now is skipped; one that got late samples since is written again, whole (late
 * samples are taken up to the raw retention's age, long after their hour was first archived). So a run after
 * downtime archives whatever is still there. Returns the entries written.
 */
export async function archiveRawHours(pool: pg.Pool, engine: VictoriaMetrics, index: ArchiveIndex, rawRetentionMs: number, { now = Date.now(), signal, held }: RetentionRun = {}): Promise<ArchiveEntry[]> {
  const marks = await readWatermarks(pool);
  // Samples archived per hour: exported by retention (`.native`), or by a legacy move (`.legacy.jsonl`, see legacy/).
  const exported = new Map<number, number>();
  const legacy = new Map<number, number>();
  for (const e of await index.entries()) {
    if (e.tier !== 'raw') continue;
    const of = e.file.endsWith('.native') ? exported : legacy;
    of.set(e.from, (of.get(e.from) ?? 0) + e.rows);
  }
  const written: ArchiveEntry[] = [];
  const first = Math.ceil((now - rawRetentionMs) / HOUR_MS) * HOUR_MS;
  for (let hour = first; hour + HOUR_MS <= marks['1h']; hour += HOUR_MS) {
    signal?.throwIfAborted();
    // The engine holds the hour's samples that a legacy move did not archive.
    const samples = (await samplesOfHour(pool, hour)) - (legacy.get(hour) ?? 0);
    if (exported.get(hour) === samples) continue;
    // An empty hour leaves no file; it is looked at again next run, in case late samples fill it.
    if (samples <= 0) continue;
    const file = join('raw', `${archiveFileStamp(hour)}_${archiveFileStamp(hour + HOUR_MS)}.native`);
    const path = join(index.dir, file);
    await mkdir(join(index.dir, 'raw'), { recursive: true });
    await held?.();
    // Through a temporary name: a crash or a shutdown midway leaves no file that looks complete.
    const tmp = temporaryPath(path);
    await writeThrough(tmp, async () => pipeline(await engine.exportNative(engine.everySeries, hour, hour + HOUR_MS - 1, signal), createWriteStream(tmp), { signal }));
    await renameDurably(tmp, path);
    const entry: ArchiveEntry = { tier: 'raw', file, from: hour, to: hour + HOUR_MS, rows: samples, bytes: (await stat(path)).size, archivedAt: new Date().toISOString() };
    // Asked again after the export: a run that lost its lock meanwhile would write the index over the new holder's.
    await held?.();
    await index.add(entry);
    written.push(entry);
  }
  return written;
}

/**
 * The samples of the hour by its 1h rollups, which count every sample exactly. Not by the engine: it refuses
 * `count_over_time` over more series than its -search.maxUniqueTimeseries (300,000), so a large fleet's hours
 * were never archived.
 */
async function samplesOfHour(pool: pg.Pool, hour: number): Promise<number> {
  const { rows } = await pool.query<{ samples: string | null }>('SELECT sum(count) AS samples FROM rollup_1h WHERE bucket = $1', [new Date(hour)]);
  return Number(rows[0]?.samples ?? 0);
}

/**
 * Loads archived raw hours overlapping `[from, to)` into the engine; it keeps one sample per series and
 * timestamp, so loading twice adds nothing. The engine drops samples older than its own retention: to look at
 * old hours, point VM_URL at an engine with a longer one. Returns the samples the files hold.
 */
export async function loadRawArchive(engine: VictoriaMetrics, index: ArchiveIndex, from: number, to: number): Promise<number> {
  let samples = 0;
  let first: WriteMark | undefined;
  for (const e of (await index.entries()).filter((entry) => entry.tier === 'raw' && entry.from < to && entry.to > from)) {
    // Hours retention exported are in the engine's native format; a legacy move's, in its JSON-lines import format.
    const file = createReadStream(join(index.dir, e.file));
    const mark = e.file.endsWith('.jsonl') ? await engine.importLinesFrom(file) : await engine.importNative(file);
    first ??= mark;
    samples += e.rows;
  }
  await engine.sync(first);
  return samples;
}
