import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
    // A name of its own: containers on one shared archive volume all run as pid 1.
    const tmp = `${this.path}.${randomUUID()}.tmp`;
    await writeFile(tmp, JSON.stringify(all, null, 2));
    await renameDurably(tmp, this.path);
  }
}
