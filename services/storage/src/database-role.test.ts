/**
 * The storage as its own PostgreSQL role (deploy/postgres/roles.sql, database.migrate false), on a database and
 * roles of this test's own: it waits for the owner's migrations and grants, then rolls samples up into partitions it
 * creates and drops through the owner's two functions, archives and loads back, while any other DDL, the other
 * services' tables and the functions for anyone else are refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Sample } from '@terminusa/bus';
import { createPool } from '@terminusa/database';
import { computeRollups, PartitionManager, SampleStore, SeriesIds, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { createRoleDatabase, type RoleDatabase } from '@terminusa/testkit';
import { ArchiveIndex } from './archive/archive-index.ts';
import { loadArchive } from './archive/archive-partition.ts';
import { applyRetention } from './retention/apply-retention.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NAME = 'storage_role_metric';
let rdb: RoleDatabase;
let owner: pg.Pool;
let storage: pg.Pool;
let gateway: pg.Pool;
let engine: VictoriaMetrics;
let dataDir: string;

beforeAll(async () => {
  rdb = createRoleDatabase();
  const run = rdb.runRolesSql();
  expect(run.status, run.stderr).toBe(0);
  // The storage starts before the owner (the backup), as it may in compose or k8s: it waits, creating nothing.
  ({ service: storage, owner } = await rdb.openBeforeOwner('storage', 'storage'));
  gateway = createPool(rdb.config('apiGateway').database, 'storage-role-test-gateway');
  engine = new VictoriaMetrics(rdb.config('storage').storage.engine);
  dataDir = await mkdtemp(join(tmpdir(), 'storage-role-'));
});
afterAll(async () => {
  await engine?.deleteSeries(`{__name__="${NAME}"}`).catch(() => undefined);
  await gateway?.end();
  await rdb.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the storage as its own database role', () => {
  it('is not the owner and no superuser', async () => {
    const { rows } = await storage.query('SELECT current_user AS role, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user');
    expect(rows).toEqual([{ role: rdb.roles.storage, rolsuper: false, rolcreatedb: false, rolcreaterole: false }]);
  });

  it('rolls samples up into partitions it creates, retains them into the archive by dropping them, and loads the archive back', async () => {
    const now = Date.now();
    const partitions = new PartitionManager(storage);
    const samples: Sample[] = [
      ...Array.from({ length: 120 }, (_, i) => ({ name: NAME, value: i, ts: now - 2 * HOUR + i * 30_000, tags: { s: String(i % 2) } })),
      // Past the 1m tier's two hours: its partition goes at the retention run below.
      ...Array.from({ length: 30 }, (_, i) => ({ name: NAME, value: i, ts: now - 3 * DAY + i * 1000, tags: { s: 'old' } })),
    ];
    await new SampleStore(storage, engine).insert(samples);
    await computeRollups({ pool: storage, engine, partitions, series: new SeriesIds(storage), settleMs: 0, rawRetentionMs: DAY });
    const { rows: oneMinute } = await storage.query<{ n: number }>(`SELECT count(*)::int AS n FROM rollup_1m r JOIN series s ON s.id = r.series_id WHERE s.name = $1`, [NAME]);
    expect(oneMinute[0]!.n).toBeGreaterThan(0);
    const made = (await partitions.list('1m')).map((p) => p.name);
    expect(made.length).toBeGreaterThan(0);
    // The partitions belong to the owner, made through its function.
    const { rows: owners } = await owner.query<{ owner: string }>(`SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = ANY($1::text[])`, [made]);
    expect(owners).toEqual([{ owner: rdb.roles.owner }]);

    // A 1d row of 200 days ago sits in the default partition (no partition covers it), as a restore leaves it.
    const { rows: ids } = await owner.query<{ id: string }>(`INSERT INTO series (key, name, tags) VALUES ('${NAME}{s="restored"}', $1, '{"s":"restored"}') RETURNING id`, [NAME]);
    const bucket = Math.floor((now - 200 * DAY) / DAY) * DAY;
    await owner.query(`INSERT INTO rollup_1d VALUES ($1, to_timestamp($2 / 1000.0), 1, 7, 7, 7, 7, to_timestamp($2 / 1000.0))`, [ids[0]!.id, bucket]);

    const index = new ArchiveIndex(join(dataDir, 'archive'));
    const report = await applyRetention(storage, engine, partitions, index, tierRetentionMs(rdb.config('storage')), { now });
    expect(report.dropped.some((p) => p.startsWith('rollup_1m_p'))).toBe(true);
    expect(report.deletedFromDefault).toBe(1);
    for (const name of report.dropped) expect((await owner.query(`SELECT to_regclass($1) AS t`, [name])).rows).toEqual([{ t: null }]);
    expect((await index.entries()).some((e) => e.tier === '1m')).toBe(true);

    // Loaded back (a temporary table, then the tier): the default partition's row returns once, also when asked twice.
    expect(await loadArchive(storage, index, '1d', bucket, bucket + DAY)).toBe(1);
    expect(await loadArchive(storage, index, '1d', bucket, bucket + DAY)).toBe(0);
    expect((await storage.query(`SELECT sum FROM rollup_1d_default WHERE series_id = $1`, [ids[0]!.id])).rows).toEqual([{ sum: 7 }]);
  });

  it('may run no DDL of its own, drop nothing but rollup partitions, nor touch the other services’ tables', async () => {
    const { rows } = await owner.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'rollup_1h'::regclass AND c.relname <> 'rollup_1h_default' LIMIT 1`,
    );
    const partition = rows[0]!.name;
    await expect(storage.query('CREATE TABLE storage_own (a int)')).rejects.toThrow(/permission denied for schema public/);
    await expect(storage.query(`DROP TABLE ${partition}`)).rejects.toThrow(/must be owner of table/);
    await expect(storage.query('TRUNCATE rollup_1m')).rejects.toThrow(/permission denied for table rollup_1m/);
    await expect(storage.query(`SELECT * FROM ${partition}`)).rejects.toThrow(/permission denied for table/);
    await expect(storage.query('SELECT * FROM users')).rejects.toThrow(/permission denied for table users/);
    await expect(storage.query('SELECT * FROM alerts')).rejects.toThrow(/permission denied for table alerts/);
    await expect(storage.query(`SELECT rollup_partition_drop('users')`)).rejects.toThrow(/not a rollup partition/);
    await expect(storage.query(`SELECT rollup_partition_drop('rollup_1m_default')`)).rejects.toThrow(/not a rollup partition/);
    await expect(storage.query(`SELECT rollup_partition_create('users', 'users_p20260101', now(), now() + interval '1 day')`)).rejects.toThrow(/not a rollup partition/);
    await expect(storage.query(`SELECT rollup_partition_create('rollup_1d', 'users', now(), now() + interval '1 day')`)).rejects.toThrow(/not a rollup partition/);
    // Its ON COMMIT temporary tables (rollups, archive load-back) are allowed; the gateway's role may not even call the functions.
    const client = await storage.connect();
    try {
      await client.query('CREATE TEMP TABLE storage_temp (a int)');
    } finally {
      client.release();
    }
    await expect(gateway.query(`SELECT rollup_partition_drop($1)`, [partition])).rejects.toThrow(/permission denied for function rollup_partition_drop/);
    expect((await owner.query(`SELECT to_regclass($1) AS t`, [partition])).rows).toEqual([{ t: partition }]);
  });
});
