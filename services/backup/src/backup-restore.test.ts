import { spawn, type ChildProcess } from 'node:child_process';
import { constants, readdirSync, rmSync } from 'node:fs';
import { access, mkdtemp, readFile, readdir, rm, writeFile, mkdir, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { loadConfig, type Config } from '@terminusa/config';
import { createPool, ensureDatabase, migrate } from '@terminusa/database';
import { SampleStore, selector, VictoriaMetrics, type EngineSeries } from '@terminusa/metric-store';
import { freePort, TEST_SERVERS, useTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';
import { BackupOperations } from './backup-operations.ts';
import { BackupVerificationError, RestoreIncompleteError } from './errors.ts';
import { MANIFEST_FILE, SIGNATURE_FILE, signManifest } from './format/manifest.ts';
import { restoreEngineData } from './restore/restore-engine.ts';
import { partOf } from './take/engine-snapshot.ts';
import { takeBackup } from './take/take-backup.ts';

let ns: TestNamespace;
let config: Readonly<Config>;
let live: pg.Pool;
let ops: BackupOperations;
let t = 1_764_115_200_000;

/** Every row of every table of the schema, in primary-key order, as text. */
async function snapshot(pool: pg.Pool, schema: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ['series', 'rollup_1m', 'schema_migrations']) {
    const { rows } = await pool.query(`SELECT t::text AS row FROM ${pg.escapeIdentifier(schema)}.${table} t ORDER BY 1`);
    out[table] = rows.map((r: { row: string }) => r.row.replace(/,"?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+\d\d"?\)$/, ')'));
  }
  out.schema_migrations = out.schema_migrations!.map((r) => r.split(',')[0]!);
  return out;
}

/**
 * Waits until every transaction of the cluster that was running when this is called has ended. A backup's watermark
 * is the oldest running transaction of the whole cluster (other tests' included): one still running from before
 * the rows just written would put them in the next incremental again (a CI run's incremental held the whole
 * table, 5,300 rows), which is safe but not what the incrementals test's size check looks for.
 */
async function settleTransactions(): Promise<void> {
  // A transaction id of our own: every transaction running now has an older one (a snapshot's xmax is only the
  // newest completed id + 1, which a running transaction may equal).
  const { rows } = await live.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
  const ours = BigInt(rows[0]!.xid);
  await waitFor(
    async () => {
      const { rows: now } = await live.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
      return BigInt(now[0]!.xmin) > ours ? true : undefined;
    },
    60_000,
    'transactions running before the rows were written to end',
  );
}

/**
 * `minutes` 1-minute rollup rows for each of `series` series (created when missing; their tags hold quotes,
 * a backslash and a tab), in minutes after the previous call's: the relational bulk of a backup.
 */
async function addRollups(minutes: number, series = 50): Promise<void> {
  await live.query(
    `INSERT INTO series (key, name, tags)
     SELECT 'players_online{shard="' || g || '"}', 'players_online', jsonb_build_object('shard', g::text, 'note', $2::text)
       FROM generate_series(0, $1::int - 1) g
     ON CONFLICT (key) DO NOTHING`,
    [series, "it's \\ \"quoted\"\ttab"],
  );
  const { rowCount } = await live.query(
    `INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts)
     SELECT s.id, b, 6, m * 6 + s.id, m, m + s.id, m + 0.5, b + interval '50 seconds'
       FROM series s CROSS JOIN generate_series(0, $2::int - 1) m CROSS JOIN LATERAL to_timestamp($1::float8 / 1000 + m * 60) b
      WHERE s.name = 'players_online' AND (s.tags->>'shard')::int < $3::int`,
    [t, minutes, series],
  );
  t += minutes * 60_000;
  expect(rowCount).toBe(minutes * series);
}

/** A fresh, empty copy of the suite's schema to restore into. */
async function emptyTarget(name: string): Promise<{ pool: pg.Pool; schema: string }> {
  const schema = `${ns.id}_${name}`;
  const pool = createPool({ ...config.database, schema }, 'restore-test');
  await migrate(pool, schema);
  await pool.query('DELETE FROM schema_migrations');
  return { pool, schema };
}

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  config = loadConfig({ env: ns.env, overrides: { backup: { chunkBytes: 64 * 1024 } } });
  live = createPool(config.database, 'backup-test');
  await migrate(live, config.database.schema);
  ops = new BackupOperations(config, live);
  await addRollups(100);
});
afterAll(async () => {
  await live.end();
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
    // 50 series with 100 minutes of rollups each: 5,000 rows, more than one chunk's worth.
    expect(manifest.tables.find((x) => x.table === 'series')!.rows).toBe(50);
    expect(manifest.tables.find((x) => x.table === 'rollup_1m')!.rows).toBe(5000);
    expect(manifest.tables.find((x) => x.table === 'rollup_1m')!.chunks.length).toBeGreaterThan(1);
    // Raw samples are the engine's: no table of them is left in PostgreSQL to back up.
    expect(manifest.tables.map((x) => x.table)).not.toContain('samples');
    const files = await readdir(join(ops.paths.backupsDir, manifest.id));
    for (const f of files) expect((await stat(join(ops.paths.backupsDir, manifest.id, f))).mode & 0o777).toBe(0o600);
    const chunk = await readFile(join(ops.paths.backupsDir, manifest.id, manifest.tables[0]!.chunks[0]!.file));
    expect(chunk.includes(Buffer.from('players_online'))).toBe(false);

    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema } }, target.pool);
    const progress: string[] = [];
    const result = await restoreOps.restore(manifest.id, target.pool, { onProgress: (p) => p.done && progress.push(`${p.table}:${p.rows}`) });
    expect(result.rows).toBe(manifest.tables.reduce((n, x) => n + x.rows, 0));
    expect(progress).toContain('rollup_1m:5000');
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
    await restoreOps.restore(manifest.id, target.pool);
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
    // Sequences were moved past the restored ids: a new series gets a fresh id.
    await target.pool.query(`INSERT INTO series (key, name, tags) VALUES ('new_metric', 'new_metric', '{}')`);
  });

  it('restores a full and three incrementals equal to the live database, changed rows included', async () => {
    await settleTransactions();
    await ops.run('full');
    for (let i = 0; i < 3; i++) {
      await addRollups(6);
      // New minutes are appended; rows of keyed tables change, and the incremental carries the change.
      await live.query(`UPDATE series SET tags = tags || jsonb_build_object('rev', '${i}') WHERE id = (SELECT min(id) FROM series)`);
      await settleTransactions();
      const { manifest } = await ops.run('incremental');
      expect(manifest.kind).toBe('incremental');
      const rollupRows = manifest.tables.find((x) => x.table === 'rollup_1m')!.rows;
      // An incremental holds what changed since the previous backup (the 300 new minutes' rows), not the whole table.
      expect(rollupRows).toBeGreaterThanOrEqual(300);
      expect(rollupRows).toBeLessThan(600);
      expect(manifest.tables.find((x) => x.table === 'series')!.rows).toBeGreaterThanOrEqual(1);
    }
    const newest = (await ops.list()).at(-1)!;
    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema } }, target.pool);
    const result = await restoreOps.restore(newest.id, target.pool);
    expect(result.backups).toHaveLength(4);
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
  });

  it('restores the deletes an incremental carries: a rule deleted since the full stays deleted, one deleted and made again comes back made again', async () => {
    const rules = async (pool: pg.Pool) => (await pool.query<{ name: string; definition: unknown }>('SELECT name, definition FROM alert_rules ORDER BY name')).rows;
    const addRule = (name: string, threshold: number) =>
      live.query(`INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ($1, $2, 'api', 'admin')`, [name, { threshold }]);
    for (const name of ['deleted_rule', 'remade_rule', 'kept_rule']) await addRule(name, 1);
    await settleTransactions();
    await ops.run('full');
    // As the gateway's DELETE /alerts/rules/{name} does.
    await live.query(`DELETE FROM alert_rules WHERE name IN ('deleted_rule', 'remade_rule')`);
    await addRule('remade_rule', 2);
    await settleTransactions();
    const { manifest } = await ops.run('incremental');
    expect(manifest.kind).toBe('incremental');
    expect(manifest.tables.find((x) => x.table === 'row_deletions')!.rows).toBeGreaterThanOrEqual(2);
    const expected = await rules(live);
    expect(expected.map((r) => r.name)).toEqual(['kept_rule', 'remade_rule']);

    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema } }, target.pool);
    const result = await restoreOps.restore(manifest.id, target.pool);
    expect(result.deleted).toBeGreaterThanOrEqual(2);
    expect(await rules(target.pool)).toEqual(expected);
    // The replay is not logged again: the target's log is the live one's, row for row.
    const log = async (pool: pg.Pool) => (await pool.query('SELECT id, table_name, key FROM row_deletions ORDER BY id')).rows;
    expect(await log(target.pool)).toEqual(await log(live));
    // Run again, the same database.
    await restoreOps.restore(manifest.id, target.pool);
    expect(await rules(target.pool)).toEqual(expected);
    await live.query(`DELETE FROM alert_rules WHERE name IN ('remade_rule', 'kept_rule')`);
  });

  it('keeps a rule made again after its delete when the log row comes back into the next incremental without it', async () => {
    const rules = async (pool: pg.Pool) => (await pool.query<{ name: string }>('SELECT name FROM alert_rules ORDER BY name')).rows.map((r) => r.name);
    await live.query(`INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ('phoenix', '{}', 'api', 'admin')`);
    await live.query(`DELETE FROM alert_rules WHERE name = 'phoenix'`);
    await settleTransactions();
    const { manifest: before } = await ops.run('full');
    await live.query(`INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ('phoenix', '{"again": true}', 'api', 'admin')`);
    await settleTransactions();
    await ops.run('full');
    // An operator restores the older full into the live database: its log row of the delete is written again (a new
    // xmin), the rule made again since is left as it is.
    await ops.restore(before.id, live);
    await settleTransactions();
    const { manifest } = await ops.run('incremental');
    expect(manifest.tables.find((x) => x.table === 'row_deletions')!.rows).toBeGreaterThanOrEqual(1);
    expect(await rules(live)).toContain('phoenix');

    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema } }, target.pool);
    await restoreOps.restore(manifest.id, target.pool);
    expect(await rules(target.pool)).toEqual(await rules(live));
    await live.query(`DELETE FROM alert_rules WHERE name = 'phoenix'`);
  });

  it('never lets a restore into the live database bring back a changed password or a demoted user’s role', async () => {
    const id = '00000000-0000-4000-8000-000000000003';
    await live.query(`INSERT INTO users (id, username, password_hash, role) VALUES ($1, 'demoted', 'old-hash', 'admin') ON CONFLICT (id) DO UPDATE SET password_hash = 'old-hash', role = 'admin'`, [id]);
    const { manifest } = await ops.run('full');
    // After the backup the password is changed and the admin made a viewer; then the backup is restored.
    await live.query(`UPDATE users SET password_hash = 'new-hash', role = 'viewer' WHERE id = $1`, [id]);
    await ops.restore(manifest.id, live);
    expect((await live.query(`SELECT password_hash, role FROM users WHERE id = $1`, [id])).rows).toEqual([{ password_hash: 'new-hash', role: 'viewer' }]);
  });

  it('never lets a restore into the live database bring back a revoked API key or a disabled user', async () => {
    await live.query(`INSERT INTO users (id, username, password_hash, role) VALUES ('00000000-0000-4000-8000-000000000001', 'leaver', 'x', 'operator') ON CONFLICT DO NOTHING`);
    await live.query(`INSERT INTO api_keys (id, name, key_hash, role, created_by) VALUES ('leakedkey001', 'leaked', 'x', 'operator', 'admin') ON CONFLICT DO NOTHING`);
    const { manifest } = await ops.run('full');
    // After the backup the key leaks and is revoked, the user leaves and is disabled; then the backup is restored.
    await live.query(`UPDATE api_keys SET revoked_at = now() WHERE id = 'leakedkey001'`);
    await live.query(`UPDATE users SET disabled = true WHERE username = 'leaver'`);
    await ops.restore(manifest.id, live);
    expect((await live.query(`SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = 'leakedkey001'`)).rows[0].revoked).toBe(true);
    expect((await live.query(`SELECT disabled FROM users WHERE username = 'leaver'`)).rows[0].disabled).toBe(true);
  });

  it('restores a user disabled in the full and enabled again before the incremental as enabled, into an empty database', async () => {
    const id = '00000000-0000-4000-8000-000000000002';
    await live.query(`INSERT INTO users (id, username, password_hash, role, disabled) VALUES ($1, 'returner', 'x', 'operator', true) ON CONFLICT (id) DO UPDATE SET disabled = true`, [id]);
    await settleTransactions();
    await ops.run('full');
    await live.query('UPDATE users SET disabled = false WHERE id = $1', [id]);
    await settleTransactions();
    const { manifest } = await ops.run('incremental');
    expect(manifest.kind).toBe('incremental');
    const drill = await emptyTarget(`u${Math.random().toString(36).slice(2, 8)}`);
    try {
      const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: drill.schema } }, drill.pool);
      await restoreOps.restore(manifest.id, drill.pool);
      expect((await drill.pool.query('SELECT disabled FROM users WHERE id = $1', [id])).rows).toEqual([{ disabled: false }]);
    } finally {
      await drill.pool.query(`DROP SCHEMA ${pg.escapeIdentifier(drill.schema)} CASCADE`);
      await drill.pool.end();
    }
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

  it('writes no row of a chunk replaced after the chain was verified, and says the restore stopped after writing', async () => {
    const { manifest } = await ops.run('full');
    const rollups = manifest.tables.find((x) => x.table === 'rollup_1m')!;
    expect(rollups.chunks.length).toBeGreaterThan(2);
    // A target whose rollup_1m has a row already: its rows are upserted in batches, each committed.
    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: target.schema }, recovery: { ...config.recovery, batchSize: 10, parallelRestore: false } }, target.pool);
    await restoreOps.restore(manifest.id, target.pool);
    await target.pool.query("DELETE FROM rollup_1m WHERE bucket < '2100-01-01'");
    await target.pool.query("INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts) SELECT min(id), '2100-01-01', 1, 1, 1, 1, 1, '2100-01-01' FROM series");
    // The second chunk changes once the chain has been verified, before the first row goes in.
    const replace = async () => {
      const path = join(ops.paths.backupsDir, manifest.id, rollups.chunks[1]!.file);
      const bytes = await readFile(path);
      bytes[bytes.length >> 1]! ^= 0x01;
      await writeFile(path, bytes);
    };
    const err = await restoreOps.restore(manifest.id, target.pool, { prepareTarget: replace }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreIncompleteError);
    expect((err as RestoreIncompleteError).message).toMatch(/stopped after it began writing/);
    expect((err as RestoreIncompleteError).cause).toMatchObject({ code: 'checksum-mismatch' });
    // The first chunk's rows went in, none of the second's.
    const { rows } = await target.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM rollup_1m');
    expect(rows[0]!.n).toBe(1 + rollups.chunks[0]!.rows);
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
      const { rows } = await target.pool.query('SELECT (SELECT count(*) FROM rollup_1m)::int + (SELECT count(*) FROM series)::int AS n');
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

    it('a chunk cut short of its frame, or that is not a chunk at all', async () => {
      const cut = await damagedCopy(async (dir, m) => writeFile(join(dir, m.tables[1]!.chunks[0]!.file), Buffer.from('TMB1')));
      await expectRefused(cut, 'checksum-mismatch');
      const other = await damagedCopy(async (dir, m) => writeFile(join(dir, m.tables[1]!.chunks[0]!.file), Buffer.alloc(4096, 7)));
      await expectRefused(other, 'checksum-mismatch');
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
    // What a retention run is still writing is not archive content yet.
    await writeFile(join(ops.paths.archiveDir, 'raw-2026-01-02.csv.gz.00000000-0000-4000-8000-000000000000.tmp'), 'half');
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

  it('never lists an unfinished backup, and prunes what one cut off a day ago left', async () => {
    const left = join(ops.paths.backupsDir, '.tmp-20260101T000000Z-full-abcdef');
    const running = join(ops.paths.backupsDir, '.tmp-20260101T000001Z-full-abcdef');
    await mkdir(left, { recursive: true });
    await mkdir(running, { recursive: true });
    const ids = (await ops.list()).map((b) => b.id);
    expect(ids.every((id) => !id.startsWith('.'))).toBe(true);
    const dayAgo = new Date(Date.now() - 86_400_000 - 1000);
    await utimes(left, dayAgo, dayAgo);
    await ops.prune();
    await expect(stat(left)).rejects.toThrow(/ENOENT/);
    expect((await stat(running)).isDirectory()).toBe(true);
  });

  it('takes an incremental as a full when the newest backup’s watermark is another cluster’s, ahead of this one', async () => {
    // As after the database was restored into a new cluster: the chain's watermark is far ahead of its transactions.
    const { manifest: base } = await ops.run('full');
    const { rows } = await live.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
    const ahead = { ...base, watermark: String(BigInt(rows[0]!.xid) + 1_000_000n) };
    const { json, signature } = signManifest(ahead, await ops.keyring());
    await writeFile(join(ops.paths.backupsDir, base.id, MANIFEST_FILE), json);
    await writeFile(join(ops.paths.backupsDir, base.id, SIGNATURE_FILE), signature);
    await addRollups(2);
    const { manifest: next } = await ops.run('incremental');
    expect(next).toMatchObject({ kind: 'full', previous: null });
    expect(next.tables.find((t) => t.table === 'rollup_1m')!.rows).toBeGreaterThan(0);
  });

  it('takes an incremental as a full when the newest backup is of another cluster or timeline, or says of none', async () => {
    // As after a point-in-time recovery (a new timeline) whose transaction ids have passed the watermark again: the
    // rows written between the recovery point and the watermark would look older than it and be left out.
    const { manifest: base } = await ops.run('full');
    expect(base.cluster).toMatch(/^\d+\/\d+$/);
    const [system, timeline] = base.cluster!.split('/');
    for (const cluster of [`${system}/${Number(timeline) + 1}`, undefined]) {
      const { manifest: newest } = await ops.run('incremental');
      expect(newest).toMatchObject({ kind: 'incremental', cluster: base.cluster });
      const { json, signature } = signManifest({ ...newest, cluster }, await ops.keyring());
      await writeFile(join(ops.paths.backupsDir, newest.id, MANIFEST_FILE), json);
      await writeFile(join(ops.paths.backupsDir, newest.id, SIGNATURE_FILE), signature);
      const { manifest: next } = await ops.run('incremental');
      expect(next).toMatchObject({ kind: 'full', previous: null, cluster: base.cluster });
    }
  });

  it('fails when a chunk cannot be written in the middle of a table’s copy, and lets go of its connection and lock', async () => {
    await addRollups(2000, 100);
    const { backupsDir } = ops.paths;
    const failing = ops.run('full');
    // The temporary directory gone while rollup_1m streams out in chunks (a volume failing, the disk full): its next
    // chunk cannot be written mid-COPY. A ROLLBACK queued behind that COPY waited for ever, the job, the backup lock
    // and the snapshot with it.
    await waitFor(
      () => {
        // Of this backup: an earlier test leaves a `.tmp-` directory of a backup "still running".
        const tmp = readdirSync(backupsDir).find((name) => name.startsWith('.tmp-') && readdirSync(join(backupsDir, name)).includes('rollup_1m-0002.chunk'));
        if (!tmp) return undefined;
        rmSync(join(backupsDir, tmp), { recursive: true, force: true });
        return true;
      },
      30_000,
      'rollup_1m streaming out',
      2,
    );
    await expect(failing).rejects.toThrow(/ENOENT/);
    // The lock is free again: the next backup runs, and a restore would.
    expect((await ops.run('full')).manifest.kind).toBe('full');
  }, 60_000);

  it('takes an incremental as a full when a chunk of the newest backup\'s chain is gone', async () => {
    const { manifest: base } = await ops.run('full');
    await rm(join(ops.paths.backupsDir, base.id, base.tables.find((t) => t.table === 'rollup_1m')!.chunks[0]!.file));
    const { manifest: next } = await ops.run('incremental');
    expect(next.kind).toBe('full');
    expect(next.previous).toBeNull();
    // A sound chain is built on again.
    expect((await ops.run('incremental')).manifest).toMatchObject({ kind: 'incremental', previous: next.id });
  });
});

describe('the signing key in a file of its own, apart from the keyring of data keys', () => {
  let dir: string;
  let target: { pool: pg.Pool; schema: string };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tmon-backup-signing-'));
    target = await emptyTarget(`s${Math.random().toString(36).slice(2, 8)}`);
    return async () => {
      await target.pool.query(`DROP SCHEMA ${pg.escapeIdentifier(target.schema)} CASCADE`);
      await target.pool.end();
      await rm(dir, { recursive: true, force: true });
    };
  });

  /** Operations on the live database with backups, keyring and (when given) signing key file under the test's directory. */
  const opsWith = (signingKey?: string, pool = live, schema = config.database.schema) =>
    new BackupOperations(
      { ...config, database: { ...config.database, schema }, backup: { ...config.backup, dir: join(dir, 'backups'), keyring: join(dir, 'keys', 'keyring.json'), ...(signingKey ? { signingKey } : {}) } },
      pool,
    );
  const refusal = (promise: Promise<unknown>) => promise.then(() => expect.unreachable('expected a refusal'), (err: unknown) => err as BackupVerificationError);

  it('backs up a full and an incremental signed by the file, verifies and restores them; the keyring holds data keys only', async () => {
    const signingKey = join(dir, 'signing', 'signing-key.json');
    const made = await opsWith().createSigningKey(signingKey);
    const signed = opsWith(signingKey);
    const full = await signed.run('full');
    await addRollups(3);
    const incremental = await signed.run('incremental');
    expect(incremental.manifest.previous).toBe(full.manifest.id);
    for (const { manifest } of [full, incremental]) {
      expect(manifest.signingKeyId).toBe(made.id);
      await expect(signed.verify(manifest.id)).resolves.toMatchObject({ rows: expect.any(Number) });
    }
    const restoreOps = opsWith(signingKey, target.pool, target.schema);
    expect((await restoreOps.restore(incremental.manifest.id, target.pool)).backups).toEqual([full.manifest.id, incremental.manifest.id]);
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));

    const ring = JSON.parse(await readFile(signed.paths.keyring, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(ring).sort()).toEqual(['dataKeys', 'version']);
    // Neither the keyring nor a backup carries the signing key.
    const privateLines = (JSON.parse(await readFile(signingKey, 'utf8')) as { signingKey: { privateKey: string } }).signingKey.privateKey.split('\n').filter((l) => l && !l.startsWith('-----'));
    const files = [signed.paths.keyring, ...(await readdir(join(dir, 'backups'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))];
    for (const file of files) {
      const content = await readFile(file);
      for (const line of privateLines) expect(content.includes(Buffer.from(line)), file).toBe(false);
    }
  });

  it('refuses a manifest changed after it was signed', async () => {
    const signingKey = join(dir, 'signing-key.json');
    await opsWith().createSigningKey(signingKey);
    const signed = opsWith(signingKey);
    const { manifest } = await signed.run('full');
    const path = join(dir, 'backups', manifest.id, 'manifest.json');
    await writeFile(path, (await readFile(path, 'utf8')).replace(/"rows": (\d+)/, (_, n: string) => `"rows": ${Number(n) + 1}`));
    expect((await refusal(signed.verify(manifest.id))).code).toBe('signature-invalid');
    expect((await refusal(opsWith(signingKey, target.pool, target.schema).restore(manifest.id, target.pool))).code).toBe('signature-invalid');
  });

  it('refuses a backup signed with another signing key file, with the same keyring, even under the real key’s id', async () => {
    const signingKey = join(dir, 'signing-key.json');
    const real = await opsWith().createSigningKey(signingKey);
    const signed = opsWith(signingKey);
    await signed.keyring();

    // Someone with the keyring (every data key) and a signing key of their own.
    const other = join(dir, 'other-signing-key.json');
    await opsWith().createSigningKey(other);
    const byOther = (await opsWith(other).run('full')).manifest.id;
    const otherRefused = await refusal(signed.verify(byOther));
    expect(otherRefused.code).toBe('key-missing');
    expect(otherRefused.message).toContain(`is not in the signing key file ${signingKey}`);

    const forged = join(dir, 'forged-signing-key.json');
    const otherFile = JSON.parse(await readFile(other, 'utf8')) as { signingKey: { id: string } };
    otherFile.signingKey.id = real.id;
    await writeFile(forged, JSON.stringify(otherFile), { mode: 0o600 });
    const byForged = (await opsWith(forged).run('full')).manifest.id;
    expect((await refusal(signed.verify(byForged))).code).toBe('signature-invalid');
    expect((await refusal(opsWith(signingKey, target.pool, target.schema).restore(byForged, target.pool))).code).toBe('signature-invalid');
    const listed = await signed.list();
    expect(listed.filter((b) => b.damaged).map((b) => b.id).sort()).toEqual([byOther, byForged].sort());
  });

  it('moves a one-file keyring to a signing key file: backups signed before still verify, and an incremental restores across the move', async () => {
    const oneFile = opsWith();
    const before = await oneFile.run('full');
    const oldSigningKey = before.manifest.signingKeyId;

    const signingKey = join(dir, 'signing-key.json');
    const made = await opsWith(signingKey).createSigningKey(signingKey);
    expect(made.retired).toEqual([oldSigningKey]);
    const signed = opsWith(signingKey);
    expect((await signed.keyring()).ignoredSigningKeyIds).toEqual([oldSigningKey]);
    await addRollups(3);
    const after = await signed.run('incremental');
    expect(after.manifest.signingKeyId).toBe(made.id);

    expect(await signed.dropKeyringSigningKeys()).toEqual([oldSigningKey]);
    expect(JSON.parse(await readFile(signed.paths.keyring, 'utf8'))).not.toHaveProperty('signingKeys');
    await expect(signed.verify(before.manifest.id)).resolves.toMatchObject({ rows: expect.any(Number) });
    const restoreOps = opsWith(signingKey, target.pool, target.schema);
    expect((await restoreOps.restore(after.manifest.id, target.pool)).backups).toEqual([before.manifest.id, after.manifest.id]);
    expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
    // The keyring alone now signs nothing.
    await expect(oneFile.run('full')).rejects.toThrow(/holds no signing key/);
  });
});

describe('the engine snapshot in every backup', () => {
  /** The live engine's data directory (its -storageDataPath), which the backup reads snapshots from. */
  const vmDataDir = process.env.VM_DATA_DIR ?? '/var/lib/victoria-metrics-ci';
  let engineOps: BackupOperations;
  let engine: VictoriaMetrics;
  let second: ChildProcess | undefined;
  let tmp: string;

  beforeAll(async () => {
    try {
      await access(join(vmDataDir, 'snapshots'), constants.R_OK | constants.X_OK);
    } catch (err) {
      throw new Error(`the live engine's data directory ${vmDataDir} is not readable here (${(err as Error).message}); set VM_DATA_DIR to the -storageDataPath of the engine at ${config.storage.engine.url}`);
    }
    tmp = await mkdtemp(join(tmpdir(), 'tmon-engine-restore-'));
    engineOps = new BackupOperations({ ...config, backup: { ...config.backup, dir: join(config.dataDir, 'backups-engine'), engineDataDir: vmDataDir } }, live);
    engine = new VictoriaMetrics(config.storage.engine);
  });
  afterAll(async () => {
    if (second && second.exitCode === null) {
      second.kill('SIGINT');
      await new Promise((r) => second!.once('exit', r));
    }
    await rm(tmp, { recursive: true, force: true });
  });

  let ts = 1_764_201_600_000;
  async function writeSamples(n: number): Promise<void> {
    const samples = Array.from({ length: n }, (_, i) => ({ name: 'engine_backup', value: i / 3, ts: ts + i * 1000, tags: { host: `h${i % 5}` } }));
    ts += n * 1000;
    expect(await new SampleStore(live, engine).insert(samples)).toBe(n);
  }
  const sorted = (all: EngineSeries[]) => all.map((s) => JSON.stringify(s)).sort();

  it('restores the engine files of a full and an incremental into a new directory an engine starts on, with the same samples', async () => {
    await writeSamples(500);
    const full = (await engineOps.run('full')).manifest;
    expect(full.engine!.parts.length).toBeGreaterThan(0);
    expect(full.engine!.files.length).toBeGreaterThan(0);
    await writeSamples(300);
    const incr = (await engineOps.run('incremental')).manifest;
    expect(incr.kind).toBe('incremental');
    // The incremental carries only part directories its base lacks (and the few files outside part directories).
    const base = new Set(full.engine!.parts);
    const carried = new Set(incr.engine!.files.map((f) => partOf(f.path)).filter((p) => p !== undefined));
    expect(carried.size).toBeGreaterThan(0);
    for (const p of carried) expect(base.has(p)).toBe(false);
    await expect(engineOps.verify(incr.id)).resolves.toMatchObject({ chunks: expect.any(Number) });

    const target = await emptyTarget(`e${Math.random().toString(36).slice(2, 8)}`);
    const dir = join(tmp, 'restored');
    try {
      const restoreOps = new BackupOperations({ ...config, backup: { ...config.backup, dir: join(config.dataDir, 'backups-engine') }, database: { ...config.database, schema: target.schema } }, target.pool);
      const result = await restoreOps.restore(incr.id, target.pool, { engineDataDir: dir });
      expect(result.backups).toEqual([full.id, incr.id]);
      expect(result.engine!.files).toBeGreaterThan(0);
      expect(await snapshot(target.pool, target.schema)).toEqual(await snapshot(live, config.database.schema));
      // A restore never writes into a directory that holds anything (a running engine's, say).
      await expect(restoreOps.restore(incr.id, target.pool, { engineDataDir: dir })).rejects.toThrow(/not empty/);
    } finally {
      await target.pool.query(`DROP SCHEMA ${pg.escapeIdentifier(target.schema)} CASCADE`);
      await target.pool.end();
    }

    const port = await freePort();
    second = spawn('victoria-metrics', [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, '-dedup.minScrapeInterval=1ms', '-maxLabelsPerTimeseries=36', '-retentionPeriod=100y', '-loggerLevel=WARN'], { stdio: 'ignore' });
    const restored = new VictoriaMetrics({ ...config.storage.engine, url: `http://127.0.0.1:${port}` });
    await waitFor(() => restored.health().then(() => true, () => undefined), 20_000, 'the second engine to start', 100);
    const match = selector('engine_backup');
    const expected = await engine.exportAll(match, 0, Date.now() + 86_400_000);
    expect(expected.reduce((n, s) => n + s.values.length, 0)).toBe(800);
    expect(sorted(await restored.exportAll(match, 0, Date.now() + 86_400_000))).toEqual(sorted(expected));
    second.kill('SIGINT');
    await new Promise((r) => second!.once('exit', r));
  });

  it('takes PostgreSQL\'s snapshot before the engine\'s: a row written while the engine\'s is copied is in neither', async () => {
    // The engine wrapped so that a row is written once its snapshot's files are copied (when it is deleted).
    const marker = `engine-order-${Math.random().toString(36).slice(2, 8)}`;
    const wrapped = {
      createSnapshot: () => engine.createSnapshot(),
      deleteSnapshot: async (name: string) => {
        await live.query("INSERT INTO audit_log (actor, action, target, address, request_id) VALUES ('test', $1, '', '', '')", [marker]);
        await engine.deleteSnapshot(name);
      },
    };
    const manifest = await takeBackup({
      pool: live,
      schema: config.database.schema,
      backupsDir: join(tmp, 'backups-order'),
      keyring: await engineOps.keyring(),
      kind: 'full',
      chunkBytes: config.backup.chunkBytes,
      configFiles: [],
      engine: { engine: wrapped, dataDir: vmDataDir },
    });
    const target = await emptyTarget(`o${Math.random().toString(36).slice(2, 8)}`);
    try {
      const restoreOps = new BackupOperations({ ...config, backup: { ...config.backup, dir: join(tmp, 'backups-order') }, database: { ...config.database, schema: target.schema } }, target.pool);
      await restoreOps.restore(manifest.id, target.pool);
      const { rows } = await target.pool.query('SELECT 1 FROM audit_log WHERE action = $1', [marker]);
      expect(rows).toEqual([]);
    } finally {
      await target.pool.query(`DROP SCHEMA ${pg.escapeIdentifier(target.schema)} CASCADE`);
      await target.pool.end();
    }
  });

  describe('refuses a backup whose engine files were damaged', () => {
    async function damaged(damage: (path: string) => Promise<void>): Promise<string> {
      const { manifest } = await engineOps.run('full');
      await damage(join(engineOps.paths.backupsDir, manifest.id, manifest.engine!.files.at(-1)!.chunks[0]!.file));
      return manifest.id;
    }
    async function expectRefused(id: string, code: string) {
      await expect(engineOps.verify(id)).rejects.toMatchObject({ code });
      const dir = join(tmp, `refused-${code}`);
      await expect(engineOps.restore(id, live, { engineDataDir: dir })).rejects.toMatchObject({ code });
      // Nothing was written.
      await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    }

    it('one flipped byte in an engine chunk', async () => {
      const id = await damaged(async (path) => {
        const bytes = await readFile(path);
        bytes[bytes.length >> 1]! ^= 0x01;
        await writeFile(path, bytes);
      });
      await expectRefused(id, 'checksum-mismatch');
    });

    it('a missing engine chunk', async () => {
      const id = await damaged((path) => rm(path));
      await expectRefused(id, 'chunk-missing');
    });

    it('an engine chunk replaced after the chain was verified: refused before a byte of it is written', async () => {
      const { manifest } = await engineOps.run('full');
      const file = manifest.engine!.files.find((f) => f.chunks.length === 1 && f.bytes > 0)!;
      const chunk = join(engineOps.paths.backupsDir, manifest.id, file.chunks[0]!.file);
      const bytes = await readFile(chunk);
      bytes[bytes.length - 20]! ^= 0x01;
      await writeFile(chunk, bytes);
      const dir = join(tmp, 'replaced-after-verify');
      await expect(restoreEngineData(engineOps.paths.backupsDir, [manifest], await engineOps.keyring(), dir)).rejects.toMatchObject({ code: 'checksum-mismatch' });
      // Nothing of it is left: the files written before it were staged and are gone, and a restore may run again.
      expect(await readdir(dir)).toEqual([]);
    });
  });
});
