/**
 * The backup as its own PostgreSQL role (deploy/postgres/roles.sql, database.migrate false), on a database and roles
 * of this test's own: it waits for the owner's migrations and grants (the one-shot db-migrate), then takes a backup
 * of every table, restores it into the live database (merging into tables that hold rows, loading through the
 * indexes of an emptied table it does not own) and, as a restore drill, into a database it creates; DDL, deletes and
 * truncation stay refused, but for the deletes an incremental logged.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Config } from '@terminusa/config';
import { createRoleDatabase, type RoleDatabase } from '@terminusa/testkit';
import { BackupOperations } from './backup-operations.ts';
import { restoreRunner } from './restore/restore-runner.ts';

let rdb: RoleDatabase;
let owner: pg.Pool;
let backup: pg.Pool;
let config: Readonly<Config>;
let ops: BackupOperations;
let dataDir: string;
const drillDb = () => `${rdb.db}_drill`;

/** The rows of the tables a restore must bring back, as text. */
async function rows(pool: pg.Pool): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ['series', 'rollup_1m', 'alert_rules']) out[table] = (await pool.query<{ r: string }>(`SELECT t::text AS r FROM ${table} t ORDER BY 1`)).rows.map((x) => x.r);
  return out;
}

beforeAll(async () => {
  rdb = createRoleDatabase();
  const run = rdb.runRolesSql();
  expect(run.status, run.stderr).toBe(0);
  // The backup starts before db-migrate has run, as it may in compose or k8s: it waits, creating nothing.
  ({ service: backup, owner } = await rdb.openBeforeOwner('backup', 'backup'));
  dataDir = await mkdtemp(join(tmpdir(), 'backup-role-'));
  config = rdb.config('backup', { dataDir });
  ops = new BackupOperations(config, backup);
  await owner.query(`INSERT INTO series (key, name, tags) SELECT 'role_m{s="' || g || '"}', 'role_m', jsonb_build_object('s', g::text) FROM generate_series(1, 20) g`);
  await owner.query(
    `INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts)
     SELECT s.id, b, 4, m + s.id, m, m + 1, m, b FROM series s CROSS JOIN generate_series(0, 59) m
       CROSS JOIN LATERAL (SELECT now() - interval '1 hour' + m * interval '1 minute') AS x(b)`,
  );
  await owner.query(`INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ('role-rule', '{"threshold": 1}', 'api', 'admin')`);
});
afterAll(async () => {
  // The drill database too: the backup role made it.
  await rdb?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the backup as its own database role', () => {
  it('is neither the owner nor a superuser, and may create databases (for restore drills) only', async () => {
    const { rows: r } = await backup.query('SELECT current_user AS role, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user');
    expect(r).toEqual([{ role: rdb.roles.backup, rolsuper: false, rolcreatedb: true, rolcreaterole: false }]);
    const { rows: owned } = await backup.query(`SELECT count(*)::int AS n FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND relkind IN ('r', 'p', 'i')`);
    expect(owned).toEqual([{ n: 0 }]);
  });

  it('takes a backup of every table, and restores it into the live database: merged where rows are, through the indexes of an emptied table', async () => {
    const before = await rows(owner);
    const { manifest } = await ops.run('full');
    expect(manifest.tables.map((t) => t.table)).toEqual(expect.arrayContaining(['series', 'rollup_1m', 'alert_rules', 'users', 'schema_migrations']));

    // Damage as an operator might: a rule changed, rows deleted, a table emptied.
    await owner.query(`UPDATE alert_rules SET definition = '{"threshold": 99}' WHERE name = 'role-rule'`);
    await owner.query(`DELETE FROM series WHERE key = 'role_m{s="3"}'`);
    await owner.query('TRUNCATE rollup_1m');
    const indexes = async () => (await owner.query<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE tablename = 'rollup_1m' ORDER BY 1`)).rows.map((r) => r.i);
    const indexesBefore = await indexes();

    const result = await ops.restore(manifest.id, backup);
    expect(result.backups).toEqual([manifest.id]);
    expect(await rows(owner)).toEqual(before);
    // The role does not own rollup_1m: its indexes were kept (loaded through), not dropped and rebuilt.
    expect(await indexes()).toEqual(indexesBefore);
    // A new series after the restore takes an id past the restored ones: the sequence was set.
    const { rows: next } = await backup.query<{ ok: boolean }>(`SELECT nextval('series_id_seq') > (SELECT max(id) FROM series) AS ok`);
    expect(next).toEqual([{ ok: true }]);
  });

  it('restores a drill into a database of its own, which it creates and migrates only after verifying the backup', async () => {
    const { manifest } = await ops.run('full');
    const result = (await restoreRunner(config, ops, backup)({ id: manifest.id, intoDatabase: drillDb() }, async () => undefined)) as { rows: number };
    expect(result.rows).toBeGreaterThan(1200);
    const drill = new pg.Pool({ connectionString: Object.assign(new URL(config.database.url), { pathname: `/${drillDb()}` }).toString(), max: 1 });
    try {
      expect(await rows(drill)).toEqual(await rows(owner));
    } finally {
      await drill.end();
    }
  });

  it('replays an incremental’s logged deletes into the live database, whose tables it does not own', async () => {
    await owner.query(`INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ('role-gone', '{"threshold": 2}', 'api', 'admin')`);
    await ops.run('full');
    await owner.query(`DELETE FROM alert_rules WHERE name = 'role-gone'`);
    const { manifest } = await ops.run('incremental');
    expect(manifest.kind).toBe('incremental');
    const expected = await rows(owner);
    // The rule made again by hand after the backup: the chain says it was deleted.
    await owner.query(`INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ('role-gone', '{"threshold": 3}', 'api', 'admin')`);
    const result = await ops.restore(manifest.id, backup);
    expect(result.deleted).toBe(1);
    expect(await rows(owner)).toEqual(expected);
  });

  it('restores with tmon-backup into the live database, whose schema the owner migrated, as its own role', async () => {
    const { manifest } = await ops.run('full');
    await owner.query(`UPDATE alert_rules SET definition = '{"threshold": 42}' WHERE name = 'role-rule'`);
    const cli = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'tmon-backup.mjs'), 'restore', manifest.id], {
      env: { PATH: process.env.PATH ?? '', ...rdb.env('backup'), DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect((await owner.query(`SELECT definition->>'threshold' AS t FROM alert_rules WHERE name = 'role-rule'`)).rows).toEqual([{ t: '1' }]);
  });

  it('may not run DDL, delete or truncate', async () => {
    await expect(backup.query('CREATE TABLE role_test_made (v int)')).rejects.toThrow(/permission denied for schema public/);
    await expect(backup.query('DROP TABLE users')).rejects.toThrow(/must be owner of table users/);
    await expect(backup.query('DROP INDEX rollup_1m_pkey')).rejects.toThrow(/must be owner/);
    await expect(backup.query('DELETE FROM audit_log')).rejects.toThrow(/permission denied for table audit_log/);
    await expect(backup.query('TRUNCATE series CASCADE')).rejects.toThrow(/permission denied for table series/);
  });
});
