import { readFile, readdir, writeFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { loadConfig, type Config } from '@terminusa/config';
import { PgSampleStore } from '@terminusa/metric-store';
import { createPool, ensureDatabase, migrate } from '@terminusa/database';
import { createTestNamespace, TEST_SERVERS, waitFor, type TestNamespace } from '@terminusa/testkit';
import { BackupOperations } from './backup-operations.ts';
import { BackupVerificationError } from './errors.ts';

let ns: TestNamespace;
let config: Readonly<Config>;
let live: pg.Pool;
let ops: BackupOperations;
let t = 1_764_115_200_000;

/** Every row of every table of the schema, in primary-key order, as text. */
async function snapshot(pool: pg.Pool, schema: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ['series', 'samples', 'schema_migrations']) {
    const { rows } = await pool.query(`SELECT t::text AS row FROM ${pg.escapeIdentifier(schema)}.${table} t ORDER BY 1`);
    out[table] = rows.map((r: { row: string }) => r.row.replace(/,"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+\d\d"?\)$/, ')'));
  }
  out.schema_migrations = out.schema_migrations!.map((r) => r.split(',')[0]!);
  return out;
}

async function addSamples(n: number, series = 50): Promise<void> {
  const store = new PgSampleStore(live);
  const samples = Array.from({ length: n }, (_, i) => ({ name: 'players_online', value: i, ts: t + Math.floor(i / series), tags: { shard: String(i % series), note: "it's \\ \"quoted\"\ttab" } }));
  t += Math.ceil(n / series) + 1;
  expect(await store.insert(samples)).toBe(n);
}

/** A fresh, empty copy of the suite's schema to restore into. */
async function emptyTarget(name: string): Promise<{ pool: pg.Pool; schema: string }> {
  const schema = `${ns.id}_${name}`;
  const pool = createPool({ ...config.database, schema }, 'restore-test');
  await migrate(pool, schema);
  await pool.query('DELETE FROM schema_migrations');
  return { pool, schema };
}

beforeAll(async () => {
  ns = await createTestNamespace();
  config = loadConfig({ env: ns.env, overrides: { backup: { chunkBytes: 64 * 1024 } } });
  live = createPool(config.database, 'backup-test');
  await migrate(live, config.database.schema);
  ops = new BackupOperations(config, live);
  await addSamples(5000);
});
afterAll(async () => {
  await live.end();
  await ns.cleanup();
});

describe('backup and restore', () => {
  let target: { pool: pg.Pool; schema: string };
  beforeEach(async () => {
    target = await emptyTarget(`r${Math.random().toString(36).slice(2, 8)}`);
    return async () => {
      await target.pool.query(`DROP SCHEMA ${pg.escapeIdentifier(target.schema)} CASCADE`);
      await target.pool.end();
    };
  });

  it('restores a full backup into an empty schema equal row by row, twice with the same result', async () => {
    const taken: string[] = [];
    const { manifest } = await ops.run('full', false, new Date(), (p) => taken.push(`${p.table}:${p.rows}/${p.totalTables}`));
    expect(manifest.kind).toBe('full');
    // The backup reported each table as it was written, with the count of all of them.
    expect(taken).toEqual(manifest.tables.map((t) => `${t.table}:${t.rows}/${manifest.tables.length}`));
    // 5,000 samples of 50 series, 100 each within one minute: 50 blocks.
    expect(manifest.tables.find((x) => x.table === 'sample_blocks')!.rows).toBe(50);
    expect(manifest.tables.find((x) => x.table === 'sample_blocks')!.chunks.length).toBeGreaterThan(1);
    const files = await readdir(join(ops.paths.backupsDir, manifest.id));
    for (const f of files) expect((await stat(join(ops.paths.backupsDir, manifest.id, f))).mode & 0o777).toBe(0o600);
    const chunk = await readFile(join(ops.paths.backupsDir, manifest.id, manifest.tables[0]!.chunks[0]!.file));
    expect(chunk.includes(Buffer.from('players_online'))).toBe(false);

    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema } }, target.pool);
    const progress: string[] = [];
    const result = await restoreOps.restore(manifest.id, target.pool, (p) => p.done && progress.push(`${p.table}:${p.rows}`));
    expect(result.rows).toBe(manifest.tables.reduce((n, x) => n + x.rows, 0));
    expect(progress).toContain('sample_blocks:50');
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
    await restoreOps.restore(manifest.id, target.pool);
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
    // Sequences were moved past the restored ids: a new series gets a fresh id.
    await new PgSampleStore(target.pool).insert([{ name: 'new_metric', value: 1, ts: 1, tags: {} }]);
  });

  it('restores a full and three incrementals equal to the live database, changed rows included', async () => {
    await ops.run('full');
    for (let i = 0; i < 3; i++) {
      await addSamples(300);
      // Samples are append-only; rows of keyed tables change, and the incremental carries the change.
      await live.query(`UPDATE series SET tags = tags || jsonb_build_object('rev', '${i}') WHERE id = (SELECT min(id) FROM series)`);
      const { manifest } = await ops.run('incremental');
      expect(manifest.kind).toBe('incremental');
      const blockRows = manifest.tables.find((x) => x.table === 'sample_blocks')!.rows;
      // An incremental holds what changed since the previous backup (the 300 samples' 50 blocks), not the whole table.
      expect(blockRows).toBeGreaterThanOrEqual(50);
      expect(blockRows).toBeLessThan(100);
      expect(manifest.tables.find((x) => x.table === 'series')!.rows).toBeGreaterThanOrEqual(1);
    }
    const newest = (await ops.list()).at(-1)!;
    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema } }, target.pool);
    const result = await restoreOps.restore(newest.id, target.pool);
    expect(result.backups).toHaveLength(4);
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
  });

  it('restores into another database named for a restore drill', async () => {
    const { manifest } = await ops.run('full');
    const url = new URL(TEST_SERVERS.databaseUrl);
    url.pathname = `/${ns.id}_drill`;
    await ensureDatabase(url.toString());
    const drill = createPool({ ...config.database, url: url.toString() }, 'drill');
    try {
      await migrate(drill, config.database.schema);
      await drill.query('DELETE FROM schema_migrations');
      await ops.restore(manifest.id, drill);
      expect(await snapshot(drill, config.database.schema)).toEqual(await snapshot(live, config.database.schema));
    } finally {
      await drill.end();
      const admin = new pg.Client({ connectionString: TEST_SERVERS.databaseUrl });
      await admin.connect();
      // Not WITH (FORCE): terminating the pool's closing connections would surface as errors; wait for them instead.
      await waitFor(() => admin.query(`DROP DATABASE ${pg.escapeIdentifier(`${ns.id}_drill`)}`).then(() => true), 5000, 'drill database dropped', 100);
      await admin.end();
    }
  });

  describe('refuses a damaged backup with its own error, before touching the database', () => {
    async function damagedCopy(damage: (dir: string, manifest: { tables: { chunks: { file: string }[] }[] }) => Promise<void>): Promise<string> {
      const { manifest } = await ops.run('full');
      await damage(join(ops.paths.backupsDir, manifest.id), manifest);
      return manifest.id;
    }
    async function expectRefused(id: string, code: string, keyring?: () => Promise<void>) {
      await keyring?.();
      const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema } }, target.pool);
      const err = await restoreOps.restore(id, target.pool).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(BackupVerificationError);
      expect((err as BackupVerificationError).code).toBe(code);
      await expect(ops.verify(id)).rejects.toMatchObject({ code });
      const { rows } = await target.pool.query('SELECT (SELECT count(*) FROM samples)::int + (SELECT count(*) FROM series)::int AS n');
      expect(rows[0].n).toBe(0);
    }

    it('one flipped byte in a chunk', async () => {
      const id = await damagedCopy(async (dir, m) => {
        const path = join(dir, m.tables[1]!.chunks[0]!.file);
        const bytes = await readFile(path);
        bytes[bytes.length >> 1]! ^= 0x01;
        await writeFile(path, bytes);
      });
      await expectRefused(id, 'checksum-mismatch');
    });

    it('a changed manifest', async () => {
      const id = await damagedCopy(async (dir) => {
        const path = join(dir, 'manifest.json');
        await writeFile(path, (await readFile(path, 'utf8')).replace(/"rows": (\d+)/, (_, n: string) => `"rows": ${Number(n) + 1}`));
      });
      await expectRefused(id, 'signature-invalid');
    });

    it('a missing chunk', async () => {
      const id = await damagedCopy(async (dir, m) => {
        const { rm } = await import('node:fs/promises');
        await rm(join(dir, m.tables[1]!.chunks[0]!.file));
      });
      await expectRefused(id, 'chunk-missing');
    });

    it('a wrong data key', async () => {
      const id = await damagedCopy(async () => undefined);
      const path = ops.paths.keyring;
      const original = await readFile(path, 'utf8');
      try {
        await expectRefused(id, 'decrypt-failed', async () => {
          const ring = JSON.parse(original) as { dataKeys: { key: string }[] };
          for (const k of ring.dataKeys) k.key = Buffer.alloc(32, 7).toString('base64');
          await writeFile(path, JSON.stringify(ring));
        });
      } finally {
        await writeFile(path, original, { mode: 0o600 });
      }
    });
  });

  it('rotates the data key and still verifies and restores backups made with the old one', async () => {
    const before = await ops.run('full');
    expect(await ops.rotateKey(false)).toBeUndefined();
    const newKey = await ops.rotateKey(true);
    expect(newKey).toBeDefined();
    expect(newKey).not.toBe(before.manifest.keyId);
    const after = await ops.run('full');
    expect(after.manifest.keyId).toBe(newKey);
    await expect(ops.verify(before.manifest.id)).resolves.toMatchObject({ rows: expect.any(Number) });
    await expect(ops.verify(after.manifest.id)).resolves.toMatchObject({ rows: expect.any(Number) });
    expect((await stat(ops.paths.keyring)).mode & 0o777).toBe(0o600);
    const ring = await readFile(ops.paths.keyring, 'utf8');
    // No key material ends up inside a backup.
    for (const f of await readdir(join(ops.paths.backupsDir, after.manifest.id))) {
      const content = await readFile(join(ops.paths.backupsDir, after.manifest.id, f));
      for (const k of (JSON.parse(ring) as { dataKeys: { key: string }[] }).dataKeys) expect(content.includes(Buffer.from(k.key))).toBe(false);
    }
  });

  it('includes the config files and, on request, the archive files', async () => {
    const file = join(ns.env.DATA_DIR!, 'terminusa.yaml');
    await writeFile(file, 'core:\n  batchSize: 100\n');
    await mkdir(ops.paths.archiveDir, { recursive: true });
    await writeFile(join(ops.paths.archiveDir, 'raw-2026-01-01.csv.gz'), 'archived');
    const withFiles = new BackupOperations({ ...config, configFile: file }, live);
    const { manifest } = await withFiles.run('full', true);
    expect(manifest.files.map((f) => [f.kind, f.path])).toEqual([
      ['config', file],
      ['archive', join(ops.paths.archiveDir, 'raw-2026-01-01.csv.gz')],
    ]);
    expect(await withFiles.archives()).toEqual([{ path: join(ops.paths.archiveDir, 'raw-2026-01-01.csv.gz'), bytes: 8 }]);
    await expect(withFiles.verify(manifest.id)).resolves.toMatchObject({ chunks: expect.any(Number) });
  });

  it('prunes by age after each backup, keeping the base of a kept incremental', async () => {
    const dir = join(ns.env.DATA_DIR!, 'retention');
    const aged = new BackupOperations({ ...config, backup: { ...config.backup, dir } }, live);
    const day = 86_400_000;
    const at = (daysAgo: number) => new Date(Date.now() - daysAgo * day);
    const oldFull = (await aged.run('full', false, at(200))).manifest.id;
    const second = await aged.run('full', false, at(100));
    const keptBase = second.manifest.id;
    // Taking the second full, 100 days after the first, prunes the first (older than 90 days).
    expect(second.pruned).toEqual([oldFull]);
    const incr = (await aged.run('incremental', false, at(10))).manifest.id;
    // keptBase is now over 90 days old, but the 10-day-old incremental builds on it.
    expect((await aged.run('full', false, at(0))).pruned).toEqual([]);
    expect((await aged.list()).map((b) => b.id)).toEqual([keptBase, incr, expect.stringContaining('-full-')]);
    await expect(aged.verify(incr)).resolves.toBeDefined();
  });

  it('never lists an unfinished backup', async () => {
    await mkdir(join(ops.paths.backupsDir, '.tmp-20260101T000000Z-full-abcdef'), { recursive: true });
    const ids = (await ops.list()).map((b) => b.id);
    expect(ids.every((id) => !id.startsWith('.'))).toBe(true);
  });
});

describe('a backup taken before raw samples were stored in blocks (schema version 7)', () => {
  it('restores into the current schema: its sample rows become blocks, and the schema stays current', async () => {
    const old = `${ns.id}_v7`;
    const target = `${ns.id}_v7restore`;
    const oldPool = createPool({ ...config.database, schema: old }, 'backup-v7');
    const targetPool = createPool({ ...config.database, schema: target }, 'restore-v7');
    try {
      await migrate(oldPool, old, 7);
      // Three series, 200 samples each a second apart (crossing minutes), written as version 7 wrote them: a row each.
      await oldPool.query(`INSERT INTO series (key, name, tags) SELECT 'legacy{s="' || s || '"}', 'legacy', jsonb_build_object('s', s::text) FROM generate_series(1, 3) s`);
      await oldPool.query(
        `INSERT INTO samples (series_id, ts, value)
         SELECT id, to_timestamp(1764115200 + i), id * 1000 + i FROM series CROSS JOIN generate_series(0, 199) i`,
      );
      // Both sides share a backups directory of their own, apart from the other tests' backups.
      const opsOn = (schema: string, pool: pg.Pool) =>
        new BackupOperations({ ...config, database: { ...config.database, schema }, backup: { ...config.backup, dir: join(config.dataDir, 'backups-v7') } }, pool);
      const { manifest } = await opsOn(old, oldPool).run('full');
      expect(manifest.tables.map((x) => x.table)).toContain('samples');
      expect(manifest.tables.map((x) => x.table)).not.toContain('sample_blocks');

      // The target is what the suite's current version creates on start.
      await migrate(targetPool, target);
      const restoreOps = opsOn(target, targetPool);
      await restoreOps.restore(manifest.id, targetPool);
      const rows = (pool: pg.Pool) => pool.query(`SELECT se.key, round(extract(epoch FROM s.ts))::int AS ts, s.value FROM samples s JOIN series se ON se.id = s.series_id ORDER BY 1, 2`).then((r) => r.rows);
      expect(await rows(targetPool)).toHaveLength(600);
      expect(await rows(targetPool)).toEqual(await rows(oldPool));
      expect(Number((await targetPool.query('SELECT count(*) AS n FROM sample_blocks')).rows[0].n)).toBeGreaterThan(0);
      // Again, into the now filled schema (rows merged, not copied): nothing doubled.
      await restoreOps.restore(manifest.id, targetPool);
      expect(await rows(targetPool)).toEqual(await rows(oldPool));
      // A restart of the suite finds the schema current and migrates nothing (the backup's version rows did not lower it).
      await migrate(targetPool, target);
      expect((await targetPool.query('SELECT max(version) AS v FROM schema_migrations')).rows[0].v).toBe((await live.query('SELECT max(version) AS v FROM schema_migrations')).rows[0].v);
    } finally {
      await oldPool.query(`DROP SCHEMA ${pg.escapeIdentifier(old)} CASCADE`);
      await targetPool.query(`DROP SCHEMA ${pg.escapeIdentifier(target)} CASCADE`);
      await oldPool.end();
      await targetPool.end();
    }
  });
});
