import { writeFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sample } from '@terminusa/bus';
import { importLines } from '@terminusa/metric-store';
import type { ArchiveIndex } from '../archive/archive-index.ts';
import { archiveFileStamp } from '../archive/archive-raw.ts';
import { renameDurably } from '@terminusa/runtime';

const HOUR_MS = 3_600_000;

/**
 * Raw hours of legacy samples written to the archive as files of the engine's JSON-lines import format, one per hour
 * (`raw/<from>_<to>.legacy.jsonl`), each listed in the archive's index like the hours retention exports.
 */
export class LegacyHourFiles {
  private readonly hours = new Map<number, Sample[]>();
  private written = 0;

  /** `held` rejects once the retention lock is lost: another writer of the index may then be at work. */
  constructor(
    private readonly archive: ArchiveIndex,
    private readonly held: () => Promise<void> = async () => undefined,
  ) {}

  add(sample: Sample): void {
    const hour = Math.floor(sample.ts / HOUR_MS) * HOUR_MS;
    let samples = this.hours.get(hour);
    if (!samples) this.hours.set(hour, (samples = []));
    samples.push(sample);
  }

  /** Writes every hour before `hour` held so far; returns the samples written by all calls. */
  async completeBefore(hour: number): Promise<number> {
    for (const [from, samples] of [...this.hours].sort((a, b) => a[0] - b[0])) {
      if (from >= hour) break;
      this.hours.delete(from);
      await this.write(from, samples);
    }
    return this.written;
  }

  private async write(from: number, samples: Sample[]): Promise<void> {
    // Added a block at a time, so each block's samples make one line (the engine takes a series in several).
    const file = join('raw', `${archiveFileStamp(from)}_${archiveFileStamp(from + HOUR_MS)}.legacy.jsonl`);
    const path = join(this.archive.dir, file);
    await mkdir(join(this.archive.dir, 'raw'), { recursive: true });
    await this.held();
    await writeFile(`${path}.tmp`, importLines(samples));
    await renameDurably(`${path}.tmp`, path);
    // Asked again before the index, which another run rewrites whole: two writers at once lose one's entries.
    await this.held();
    await this.archive.add({ tier: 'raw', file, from, to: from + HOUR_MS, rows: samples.length, bytes: (await stat(path)).size, archivedAt: new Date().toISOString() });
    this.written += samples.length;
  }
}
