import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, waitFor, type TestNamespace } from '@terminusa/testkit';
import type { Manifest } from '../format/manifest.ts';
import { Keyring } from '../keys/keyring.ts';
import { takeBackup } from '../take/take-backup.ts';
import { restoreBackup, TargetNotEmptyError } from './restore-backup.ts';
import { restoreEngineData } from './restore-engine.ts';

let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let root: string;
let keyring: Keyring;
let backupsDir: string;
let manifest: Manifest;

/** The top-level entries of the fake engine's snapshot, as a restore must leave them in its target. */
const TOP = ['data', 'indexdb', 'metadata'];

/** Every file under `dir`, as paths relative to it. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ applicationName: 'restore-engine-test' }));
  await pool.query(`INSERT INTO series (key, name, tags) VALUES ('engine_restore_metric', 'engine_restore_metric', '{}')`);
  root = await mkdtemp(join(tmpdir(), 'tmon-restore-engine-'));
  keyring = await Keyring.open(join(root, 'keyring.json'));
  backupsDir = join(root, 'backups');
  // An engine data directory with one snapshot of a few part directories, which the fake engine "takes".
  const vm = join(root, 'vm');
  const snapshot = join(vm, 'snapshots', 'snap-1');
  for (let p = 0; p < 6; p++) {
    const part = join(snapshot, 'data', 'small', '2026_12', `${100 + p}_1_${String(p).padStart(16, '0')}`);
    await mkdir(part, { recursive: true });
    for (const file of ['index.bin', 'values.bin', 'timestamps.bin', 'metadata.json']) await writeFile(join(part, file), `${file} of part ${p} `.repeat(500));
  }
  await mkdir(join(snapshot, 'indexdb', 'x'), { recursive: true });
  await writeFile(join(snapshot, 'indexdb', 'x', 'items.bin'), 'index items');
  await mkdir(join(snapshot, 'metadata'), { recursive: true });
  await writeFile(join(snapshot, 'metadata', 'minTimestampForCompositeIndex'), '0');
  const engine = { createSnapshot: async () => 'snap-1', deleteSnapshot: async () => undefined };
  manifest = await takeBackup({ pool, schema: ns.config.database.schema, backupsDir, keyring, kind: 'full', chunkBytes: 64 * 1024, configFiles: [], engine: { engine, dataDir: vm } });
  expect(manifest.engine!.files.length).toBe(26);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await cleanup?.();
});

describe('restoring the engine files', () => {
  it('leaves the target directory empty until every file is written, then fills it in one step', async () => {
    // The last file's chunk becomes a pipe: the restore waits on it with the other files written, as if it were killed there.
    const last = manifest.engine!.files.at(-1)!;
    const chunk = join(backupsDir, manifest.id, last.chunks[0]!.file);
    const sealed = await readFile(chunk);
    await rm(chunk);
    await promisify(execFile)('mkfifo', [chunk]);
    const parent = join(root, 'restored');
    const dir = join(parent, 'vm');
    const restoring = restoreEngineData(backupsDir, [manifest], keyring, dir);
    const failed = restoring.then(() => undefined, (err: unknown) => err);
    try {
      await waitFor(async () => ((await filesUnder(parent)).length >= 20 ? true : undefined), 30_000, 'the engine files but the last to be written');
      // What a restore killed now would leave: nothing an engine could be started on, nothing that refuses the next run.
      expect(await readdir(dir)).toEqual([]);
    } finally {
      // Through the pipe to the restore waiting on it, then back as the file it was.
      await writeFile(chunk, sealed);
      await failed;
      await rm(chunk);
      await writeFile(chunk, sealed, { mode: 0o600 });
    }
    expect(await failed).toBeUndefined();
    expect((await restoring).files).toBe(26);
    expect((await readdir(dir)).sort()).toEqual(TOP);
    expect(await readdir(parent)).toEqual(['vm']);
    expect((await filesUnder(dir)).length).toBe(26);
  });

  it('takes its engine files away again when the PostgreSQL part of the restore fails after them', async () => {
    const dir = join(root, 'restored-then-refused');
    // The test's own database holds rows: a drill into it is refused after the engine files were written.
    const restoring = restoreBackup({ backupsDir, id: manifest.id, keyring, target: pool, schema: ns.config.database.schema, parallelTables: 2, batchSize: 1000, engineDataDir: dir, ifTargetHasRows: 'refuse' });
    await expect(restoring).rejects.toBeInstanceOf(TargetNotEmptyError);
    expect(await readdir(dir)).toEqual([]);
    // So the same restore can be run again once the cause is fixed.
    await expect(restoreEngineData(backupsDir, [manifest], keyring, dir)).resolves.toMatchObject({ files: 26 });
  });
});
