import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { PgSampleStore } from '@terminusa/metric-store';
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
    "SELECT 'series ' || s::text AS r FROM series s UNION ALL SELECT 'samples ' || p::text FROM samples p ORDER BY 1",
  );
  return rows.map((x) => x.r);
}

beforeAll(async () => {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'cli-test');
  await migrate(pool, ns.config.database.schema);
  await new PgSampleStore(pool).insert(Array.from({ length: 2500 }, (_, i) => ({ name: 'cli_metric', value: i / 7, ts: 1_764_115_200_000 + i, tags: { k: String(i % 25) } })));
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
    // 25 series, and their 2,500 samples in 25 blocks (each series' samples lie in one minute).
    expect(rows).toBeGreaterThanOrEqual(50);

    const listed = JSON.parse((await cli('--json', 'list')).stdout) as { backups: { id: string }[] };
    expect(listed.backups.map((b) => b.id)).toEqual([id]);
    expect((await cli('verify', id)).stdout).toContain(`${id}: ok`);

    await pool.query('TRUNCATE series, sample_blocks');
    const restored = await cli('restore', id);
    expect(restored.code).toBe(0);
    expect(restored.stderr).toMatch(/sample_blocks: 25 rows/);
    expect(await tableRows()).toEqual(before);
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
  });
});
