import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { temporaryPath, writeThrough } from './archive-index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('an archive file’s temporary write', () => {
  it('leaves nothing behind when it fails, and its file when it succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tmon-archive-'));
    dirs.push(dir);
    const failing = temporaryPath(join(dir, 'hour.native'));
    await expect(
      writeThrough(failing, async () => {
        await writeFile(failing, 'half an export');
        throw new Error('the engine cut the export');
      }),
    ).rejects.toThrow(/cut the export/);
    expect(await readdir(dir)).toEqual([]);
    const written = temporaryPath(join(dir, 'hour.native'));
    await writeThrough(written, () => writeFile(written, 'a whole export'));
    expect(await readdir(dir)).toEqual([written.slice(dir.length + 1)]);
  });
});
