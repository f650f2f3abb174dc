import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { TIER_TABLE, type RollupTier as Tier } from '@terminusa/metric-store';
import { temporaryPath, writeThrough, type ArchiveEntry, type ArchiveIndex } from './archive-index.ts';
import { archiveFileStamp } from './archive-raw.ts';
import { renameDurably } from '@terminusa/runtime';

/**
 * Writes the rows of rollup `tier` in [from, to), read from table `source` (the tier's table or its default
 * partition), to a gzip file in the archive and records it; returns the entry. `held` (whileLocked's) is asked again
 * before the index is written: a run that lost its lock during a long export would write the index over the entries
 * the run holding it now added.
 */
export async function archiveRange(pool: pg.Pool, index: ArchiveIndex, tier: Tier, source: string, from: number, to: number, signal?: AbortSignal, held?: () => Promise<void>): Promise<ArchiveEntry> {
  const { column } = TIER_TABLE[tier];
  const file = join(tier, `${archiveFileStamp(from)}_${archiveFileStamp(to)}.tsv.gz`);
  const path = join(index.dir, file);
  await mkdir(join(index.dir, tier), { recursive: true });
  const client = await pool.connect();
  let rows = 0;
  let failed: Error | undefined;
  try {
    const copy = client.query(
      copyStreams.to(`COPY (SELECT * FROM ${pg.escapeIdentifier(source)} WHERE ${column} >= '${new Date(from).toISOString()}' AND ${column} < '${new Date(to).toISOString()}') TO STDOUT`),
    );
    const count = async function* (src: AsyncIterable<Buffer>) {
      for await (const part of src) {
        for (let i = part.indexOf(10); i !== -1; i = part.indexOf(10, i + 1)) rows++;
        yield part;
      }
    };
    // Through a temporary name: a crash or a shutdown midway leaves no file that looks complete.
    const tmp = temporaryPath(path);
    await writeThrough(tmp, () => pipeline(copy, count, createGzip(), createWriteStream(tmp), { signal }));
    await renameDurably(tmp, path);
  } catch (err) {
    failed = err as Error;
    throw err;
  } finally {
    // A COPY stopped midway leaves its connection inside it: closed, not handed back to the pool.
    client.release(failed);
  }
  const entry: ArchiveEntry = { tier, file, from, to, rows, bytes: (await stat(path)).size, archivedAt: new Date().toISOString() };
  await held?.();
  await index.add(entry);
  return entry;
}

/** Loads archived rows of `tier` overlapping [from, to) back into its table; returns the rows loaded. */
export async function loadArchive(pool: pg.Pool, index: ArchiveIndex, tier: Tier, from: number, to: number): Promise<number> {
  const entries = (await index.entries()).filter((e) => e.tier === tier && e.from < to && e.to > from);
  const { table } = TIER_TABLE[tier];
  let loaded = 0;
  for (const e of entries) {
    const client = await pool.connect();
    try {
      // Into a staging copy first, so rows already present (loaded before) are not added twice.
      await client.query('BEGIN');
      await client.query(`CREATE TEMP TABLE archive_load (LIKE ${pg.escapeIdentifier(table)}) ON COMMIT DROP`);
      await pipeline(createReadStream(join(index.dir, e.file)), createGunzip(), client.query(copyStreams.from('COPY archive_load FROM STDIN')) as unknown as Writable);
      const { rowCount } = await client.query(`INSERT INTO ${pg.escapeIdentifier(table)} SELECT * FROM archive_load a WHERE NOT EXISTS (SELECT 1 FROM ${pg.escapeIdentifier(table)} t WHERE t.series_id = a.series_id AND t.bucket = a.bucket)`);
      await client.query('COMMIT');
      loaded += rowCount ?? 0;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
  return loaded;
}
