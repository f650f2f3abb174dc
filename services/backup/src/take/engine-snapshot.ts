import { createReadStream } from 'node:fs';
import { access, constants, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkSummary, ChunkWriter } from '../format/chunk-cipher.ts';
import type { Manifest } from '../format/manifest.ts';

/** The part of the engine client a backup uses. */
export interface SnapshotEngine {
  createSnapshot(): Promise<string>;
  deleteSnapshot(name: string): Promise<void>;
}

/** The engine whose data a backup holds: its client and its data directory (-storageDataPath) as seen here. */
export interface EngineSource {
  engine: SnapshotEngine;
  dataDir: string;
}

/** A VictoriaMetrics part directory's name: `<rows>_<blocks>_[<min ts>_<max ts>_]<16 hex digits>`, unique and never changed. */
const PART_NAME = /^\d+_\d+_(?:.+_)?[0-9A-F]{16}$/;

/** The part directory a snapshot file lies in (its path relative to the snapshot), or undefined for other files. */
export function partOf(path: string): string | undefined {
  const dirs = path.split('/').slice(0, -1);
  return dirs.length >= 2 && PART_NAME.test(dirs[dirs.length - 1]!) ? dirs.join('/') : undefined;
}

/** Every directory and file under `root`, following symlinks (a snapshot links to the engine's snapshot directories), as sorted relative paths. */
async function walk(root: string): Promise<{ dirs: string[]; files: { path: string; size: number }[] }> {
  const dirs: string[] = [];
  const files: { path: string; size: number }[] = [];
  const visit = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const info = await stat(join(root, path));
      if (info.isDirectory()) {
        dirs.push(path);
        await visit(path);
      } else if (info.isFile()) files.push({ path, size: info.size });
    }
  };
  await visit('');
  return { dirs, files };
}

/**
 * Takes an engine snapshot and writes its files into the backup as chunks of at most `chunkBytes` each (made by
 * `newChunk`), then deletes the snapshot. Files of part directories in `baseParts` (the base backup's) are not
 * carried again: part directories are immutable, so the chain already holds them.
 */
export async function backupEngineSnapshot(
  source: EngineSource,
  baseParts: ReadonlySet<string>,
  newChunk: (file: string) => ChunkWriter,
  chunkBytes: number,
): Promise<NonNullable<Manifest['engine']>> {
  const snapshotsDir = join(source.dataDir, 'snapshots');
  try {
    await access(snapshotsDir, constants.R_OK | constants.X_OK);
  } catch (err) {
    throw new Error(`cannot read the engine's snapshots in ${snapshotsDir} (${(err as Error).message}): backup.engineDataDir must be the engine's -storageDataPath, readable by this service`, { cause: err });
  }
  const snapshot = await source.engine.createSnapshot();
  let copied = false;
  try {
    const root = join(snapshotsDir, snapshot);
    const { dirs, files } = await walk(root).catch((err: unknown) => {
      throw new Error(`cannot read engine snapshot ${root}: ${(err as Error).message}; is backup.engineDataDir the engine's -storageDataPath?`, { cause: err });
    });
    const parts = [...new Set(files.map((f) => partOf(f.path)).filter((p): p is string => p !== undefined))].sort();
    const carried: NonNullable<Manifest['engine']>['files'] = [];
    let n = 0;
    for (const file of files) {
      const part = partOf(file.path);
      if (part && baseParts.has(part)) continue;
      const chunks: ChunkSummary[] = [];
      for (let start = 0; start === 0 || start < file.size; start += chunkBytes) {
        const writer = newChunk(`engine-${String(n++).padStart(5, '0')}.chunk`);
        if (file.size > 0) {
          for await (const data of createReadStream(join(root, file.path), { start, end: Math.min(file.size, start + chunkBytes) - 1 }) as AsyncIterable<Buffer>) await writer.write(data, 0);
        }
        chunks.push(await writer.close());
      }
      const bytes = chunks.reduce((s, c) => s + c.rawBytes, 0);
      if (bytes !== file.size) throw new Error(`engine snapshot file ${file.path} changed while it was read (${bytes} of ${file.size} bytes)`);
      carried.push({ path: file.path, bytes, chunks });
    }
    copied = true;
    return { snapshot, dirs, parts, files: carried };
  } finally {
    // After a failed copy its error is the one to tell; a snapshot left then is deleted by the storage's retention
    // (storage.engine.snapshotMaxAge), as is one left by a backup killed mid-copy.
    await source.engine.deleteSnapshot(snapshot).catch((err: unknown) => {
      if (copied) throw err;
    });
  }
}
