import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createPool, migrate } from '@terminusa/database';
import { createTestNamespace, type TestNamespace } from '@terminusa/testkit';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'bin', 'tmon-backup.mjs');
let ns: TestNamespace;
let pool: pg.Pool;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...ns.env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function tableRows(): Promise<string[]> {
  const { rows } = await pool.query<{ r: string }>(
    "SELECT 'series ' || s::text AS r FROM series s UNION ALL SELECT 'rollup_1m ' || p::text FROM rollup_1m p ORDER BY 1",
  );
  return rows.map((x) => x.r);
}

beforeAll(async () => {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'cli-test');
  await migrate(pool, ns.config.database.schema);
  // 25 series with 100 minutes of 1-minute rollups each.
  await pool.query(`INSERT INTO series (key, name, tags) SELECT 'cli_metric{k="' || g || '"}', 'cli_metric', jsonb_build_object('k', g::text) FROM generate_series(0, 24) g`);
  await pool.query(
    `INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts)
     SELECT s.id, to_timestamp(1764115200 + m * 60), 60, m / 7.0, 0, m, m / 7.0, to_timestamp(1764115259 + m * 60)
       FROM series s CROSS JOIN generate_series(0, 99) m`,
  );
});
afterAll(async () => {
  await pool.end();
  await ns.cleanup();
});

describe('tmon-backup', () => {
  it('backs up, and after the live tables are wiped restores them equal row by row', async () => {
    const before = await tableRows();
    const taken = await cli('--json', 'run', '--kind', 'full');
    expect(taken.code).toBe(0);
    const { id, rows } = JSON.parse(taken.stdout) as { id: string; rows: number };
    // 25 series, and their 2,500 rollup rows.
    expect(rows).toBeGreaterThanOrEqual(2525);

    const listed = JSON.parse((await cli('--json', 'list')).stdout) as { backups: { id: string }[] };
    expect(listed.backups.map((b) => b.id)).toEqual([id]);
    expect((await cli('verify', id)).stdout).toContain(`${id}: ok`);

    await pool.query('TRUNCATE series, rollup_1m');
    const restored = await cli('restore', id);
    expect(restored.code).toBe(0);
    expect(restored.stderr).toMatch(/rollup_1m: 2500 rows/);
    expect(await tableRows()).toEqual(before);
  });

  it('refuses a damaged backup before it connects to any database: a drill target is not even created', async () => {
    const taken = JSON.parse((await cli('--json', 'run', '--kind', 'full')).stdout) as { id: string };
    const dir = join(ns.env.DATA_DIR!, 'backups', taken.id);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { tables: { chunks: { file: string }[] }[] };
    const chunk = join(dir, manifest.tables.find((t) => t.chunks.length > 0)!.chunks[0]!.file);
    const bytes = await readFile(chunk);
    bytes[bytes.length >> 1]! ^= 0x01;
    await writeFile(chunk, bytes);

    const drill = `${ns.id}_refused_drill`;
    const url = new URL(ns.config.database.url);
    url.pathname = `/${drill}`;
    const refused = await cli('restore', taken.id, '--into', url.toString());
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('checksum-mismatch');
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [drill]);
    expect(rows[0].n).toBe(0);
  });

  it('answers with exit codes scripts can test', async () => {
    const refused = await cli('verify', 'no-such-backup');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('missing-backup');
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('run', '--kind', 'weekly')).code).toBe(2);
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('restore [options] <id>');
    expect((await cli('restore', '--help')).stdout).toContain('--engine-data-dir <dir>');
  });
});
