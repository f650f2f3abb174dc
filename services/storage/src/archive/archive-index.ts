import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';

const EntrySchema = z.strictObject({
  tier: z.enum(['raw', '1m', '5m', '1h', '1d']),
  file: z.string(),
  from: z.number(),
  to: z.number(),
  rows: z.number().int(),
  bytes: z.number().int(),
  archivedAt: z.string(),
});
/** One archived range of one tier: a gzip file of COPY text rows. */
export type ArchiveEntry = z.infer<typeof EntrySchema>;

/** The index of `<DATA_DIR>/archive`, rewritten atomically whenever an entry is added. */
export class ArchiveIndex {
  constructor(readonly dir: string) {}

  private get path(): string {
    return join(this.dir, 'index.json');
  }

  async entries(): Promise<ArchiveEntry[]> {
    try {
      return z.array(EntrySchema).parse(JSON.parse(await readFile(this.path, 'utf8')));
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
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(all, null, 2));
    await rename(tmp, this.path);
  }
}
