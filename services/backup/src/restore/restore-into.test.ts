import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPool } from '@terminusa/database';
import { createTestDatabase, waitFor, type TestNamespace } from '@terminusa/testkit';
import { BackupOperations } from '../backup-operations.ts';
import { restoreRunner } from './restore-runner.ts';
import { tableRows } from '../../test-support/table-rows.ts';

const run = promisify(execFile);
/** The test runs the command several times, each a process that starts from the sources: many seconds apiece on a busy machine. */
const CLI_TEST_MS = 120_000;
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'tmon-backup.mjs');
let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
const drills: string[] = [];

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...ns.env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A database of its own on the test server, dropped after the tests, and its URL. */
function drillDatabase(name: string): { name: string; url: string } {
  const db = `${ns.id}_${name}`;
  drills.push(db);
  const url = new URL(ns.config.database.url);
  url.pathname = `/${db}`;
  return { name: db, url: url.toString() };
}

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ applicationName: 'restore-into-test' }));
  await pool.query(`INSERT INTO series (key, name, tags) SELECT 'into_metric{k="' || g || '"}', 'into_metric', jsonb_build_object('k', g::text) FROM generate_series(0, 9) g`);
  await pool.query(
    `INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts)
     SELECT s.id, to_timestamp(1764115200 + m * 60), 60, m, 0, m, m, to_timestamp(1764115259 + m * 60) FROM series s CROSS JOIN generate_series(0, 9) m`,
  );
});
afterAll(async () => {
  const admin = new pg.Client({ connectionString: ns.config.database.url });
  await admin.connect();
  for (const db of drills) await waitFor(() => admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)}`).then(() => true), 10_000, 'drill database dropped', 100);
  await admin.end();
  await cleanup?.();
});

describe('a restore drill into a database that holds rows', () => {
  it('is refused by tmon-backup restore --into, naming the table, with nothing written; --replace restores the backup alone', async () => {
    const taken = await cli('--json', 'run', '--kind', 'full');
    expect(taken.code, taken.stderr).toBe(0);
    const { id } = JSON.parse(taken.stdout) as { id: string };
    const drill = drillDatabase('into_drill');
    expect((await cli('restore', id, '--into', drill.url)).code).toBe(0);

    const target = createPool({ ...ns.config.database, url: drill.url }, 'restore-into-check');
    try {
      expect(await tableRows(target)).toEqual(await tableRows(pool));
      // The drill database now holds rows of its own: one changed, one only it has.
      await target.query(`UPDATE rollup_1m SET sum = -1 WHERE bucket = to_timestamp(1764115200)`);
      await target.query(`INSERT INTO series (key, name, tags) VALUES ('only_in_drill', 'only_in_drill', '{}')`);
      const before = await tableRows(target);

      const refused = await cli('restore', id, '--into', drill.url);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain(`holds rows in table ${pg.escapeIdentifier(ns.config.database.schema)}."rollup_1m" (and 1 other table(s))`);
      expect(refused.stderr).toContain('--replace');
      expect(await tableRows(target)).toEqual(before);

      // Emptying the live database is never what --replace does.
      expect((await cli('restore', id, '--replace')).code).toBe(2);

      const replaced = await cli('restore', id, '--into', drill.url, '--replace');
      expect(replaced.code, replaced.stderr).toBe(0);
      expect(await tableRows(target)).toEqual(await tableRows(pool));
    } finally {
      await target.end();
    }
  }, CLI_TEST_MS);

  it('is refused by a drill through the gateway (the restore job), which has no way to replace', async () => {
    const ops = new BackupOperations(ns.config, pool);
    const { manifest } = await ops.run('full');
    const drill = drillDatabase('job_drill');
    const runner = restoreRunner(ns.config, ops, pool);
    await expect(runner({ id: manifest.id, intoDatabase: drill.name }, async () => undefined)).resolves.toMatchObject({ backups: [manifest.id] });
    await expect(runner({ id: manifest.id, intoDatabase: drill.name }, async () => undefined)).rejects.toThrow(/holds rows in table .*"rollup_1m"/);
  });
});
