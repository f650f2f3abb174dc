import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveIndex } from '../archive/archive-index.ts';
import { LegacyHourFiles } from './legacy-hour-files.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmon-legacy-hours-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const HOUR = 3_600_000;
const sample = (ts: number) => ({ name: 'legacy_metric', tags: { host: 'a' }, ts, value: 1 });

describe('legacy hour files', () => {
  it('write each hour and list it in the archive index', async () => {
    const index = new ArchiveIndex(join(dir, 'kept'));
    const hours = new LegacyHourFiles(index);
    for (const ts of [10 * HOUR + 1, 10 * HOUR + 2, 11 * HOUR]) hours.add(sample(ts));
    expect(await hours.completeBefore(Number.POSITIVE_INFINITY)).toBe(3);
    expect((await index.entries()).map((e) => [e.from, e.rows])).toEqual([[10 * HOUR, 2], [11 * HOUR, 1]]);
  });

  it('write no file and no index entry once the retention lock is lost', async () => {
    const index = new ArchiveIndex(join(dir, 'lost'));
    const hours = new LegacyHourFiles(index, async () => {
      throw new Error('the advisory lock was lost with its connection');
    });
    hours.add(sample(10 * HOUR));
    await expect(hours.completeBefore(Number.POSITIVE_INFINITY)).rejects.toThrow(/lock was lost/);
    expect(await index.entries()).toEqual([]);
    expect(await readdir(join(dir, 'lost', 'raw'))).toEqual([]);
  });
});
