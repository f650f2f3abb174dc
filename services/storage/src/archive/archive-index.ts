import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ArchiveEntrySchema, type ArchiveEntry } from '@terminusa/bus';
import { renameDurably } from '@terminusa/runtime';

// The entry's schema is the bus's, so what `archiveList` answers is exactly what the index holds.
export type { ArchiveEntry };

/**
 * The index of `<DATA_DIR>/archive`, rewritten atomically whenever an entry is added. Read, changed and written whole:
 * its writers hold the retention lock (RETENTION_LOCK), or one's entry is lost to the other's write.
 */
export class ArchiveIndex {
  constructor(readonly dir: string) {}

  private get path(): string {
    return join(this.dir, 'index.json');
  }

  async entries(): Promise<ArchiveEntry[]> {
    try {
      return z.array(ArchiveEntrySchema).parse(JSON.parse(await readFile(this.path, 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async add(entry: ArchiveEntry): Promise<void> {
    const all = (await this.entries()).filter((e) => e.file !== entry.file);
    all.push(entry);
    all.sort((a, b) => a.tier.localeCompare(b.tier) || a.from - b.from);
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = temporaryPath(this.path);
    await writeFile(tmp, JSON.stringify(all, null, 2));
    await renameDurably(tmp, this.path);
  }

  /** Removes temporary files of archive writes (temporaryPath) older than `ageMs`, left by killed runs; returns how many. */
  async removeStaleTemporaries(ageMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    const entries = await readdir(this.dir, { withFileTypes: true, recursive: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const e of entries) {
      if (!e.isFile() || !TEMPORARY.test(e.name)) continue;
      const path = join(e.parentPath, e.name);
      // Renamed into place meanwhile by a run writing it: nothing to remove.
      const mtimeMs = await stat(path).then((s) => s.mtimeMs, (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return Infinity;
        throw err;
      });
      if (now - mtimeMs < ageMs) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }
}

const TEMPORARY = /\.[0-9a-f-]{36}\.tmp$/;

/**
 * Where a file of the archive is written before it is renamed into place: a name of its own per write, so two
 * writers (a run that lost its lock and the next one; containers on one shared volume all run as pid 1) never
 * write one file together and rename the mix into place.
 */
export function temporaryPath(path: string): string {
  return `${path}.${randomUUID()}.tmp`;
}

/**
 * Runs `write` of temporary file `tmp`, removing the file when it fails: each attempt's name is its own, so a write
 * that failed run after run (an export the engine cut) left a partial file each time, which backups copied.
 */
export async function writeThrough(tmp: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
