import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestNamespace } from '@terminusa/testkit';
import { tableRows } from '../test-support/table-rows.ts';

const run = promisify(execFile);
/** Each test runs the command several times, each a process that starts from the sources: many seconds apiece on a busy machine. */
const CLI_TEST_MS = 120_000;
const CLI = join(import.meta.dirname, '..', 'bin', 'tmon-backup.mjs');
let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliWith({}, ...args);
}

/** Runs tmon-backup with `env` over the test namespace's environment. */
async function cliWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...ns.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ applicationName: 'cli-test' }));
  // 25 series with 100 minutes of 1-minute rollups each.
  await pool.query(`INSERT INTO series (key, name, tags) SELECT 'cli_metric{k="' || g || '"}', 'cli_metric', jsonb_build_object('k', g::text) FROM generate_series(0, 24) g`);
  await pool.query(
    `INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts)
     SELECT s.id, to_timestamp(1764115200 + m * 60), 60, m / 7.0, 0, m, m / 7.0, to_timestamp(1764115259 + m * 60)
       FROM series s CROSS JOIN generate_series(0, 99) m`,
  );
});
afterAll(() => cleanup?.());

describe('tmon-backup', () => {
  it('backs up, and after the live tables are wiped restores them equal row by row', async () => {
    const before = await tableRows(pool);
    const taken = await cli('--json', 'run', '--kind', 'full');
    expect(taken.code).toBe(0);
    // No engine data directory is given here, so the backup lacks the raw samples, and says so.
    expect(taken.stderr).toContain('warning: backups hold no raw samples');
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
    expect(await tableRows(pool)).toEqual(before);
  }, CLI_TEST_MS);

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
  }, CLI_TEST_MS);

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
  }, CLI_TEST_MS);
});

describe('tmon-backup signing-key', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tmon-cli-signing-'));
    env = { TMON_BACKUP__DIR: join(dir, 'backups'), TMON_BACKUP__KEYRING: join(dir, 'keyring.json') };
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const privateLines = async (file: string) =>
    (JSON.parse(await readFile(file, 'utf8')) as { signingKey: { privateKey: string } }).signingKey.privateKey.split('\n').filter((l) => l && !l.startsWith('-----'));

  it('writes a signing key file (mode 0600) printing only its public key, which then signs while the keyring keeps data keys only', async () => {
    const before = JSON.parse((await cliWith(env, '--json', 'run')).stdout) as { id: string };
    const file = join(dir, 'signing', 'signing-key.json');
    const made = await cliWith(env, 'signing-key', 'create', file);
    expect(made.code).toBe(0);
    expect(made.stdout).toMatch(/^signing key sig-\d{8}-[0-9a-f]{6} written to /);
    expect(made.stdout).toMatch(/fingerprint SHA256:[A-Za-z0-9+/]{43}\n-----BEGIN PUBLIC KEY-----/);
    expect(made.stdout).toMatch(/kept for older backups: sig-/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    for (const line of await privateLines(file)) expect(made.stdout + made.stderr).not.toContain(line);

    const again = await cliWith(env, 'signing-key', 'create', file);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`signing key file ${file} exists already`);

    // The setting from the environment, as the manifests set it.
    const signed = { ...env, TMON_BACKUP__SIGNING_KEY: file };
    const after = JSON.parse((await cliWith(signed, '--json', 'run')).stdout) as { id: string };
    expect((await cliWith(signed, 'verify', after.id)).stdout).toContain(`${after.id}: ok`);
    expect(JSON.parse((await cliWith(signed, '--json', 'signing-key', 'drop-from-keyring')).stdout)).toEqual({ dropped: [expect.stringMatching(/^sig-/)] });
    expect(JSON.parse(await readFile(env.TMON_BACKUP__KEYRING!, 'utf8'))).not.toHaveProperty('signingKeys');
    expect((await cliWith(signed, 'verify', before.id)).stdout).toContain(`${before.id}: ok`);

    // Without the signing key file the keyring verifies nothing and signs nothing.
    const alone = await cliWith(env, 'verify', after.id);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('holds no signing key: set backup.signingKey');
  }, CLI_TEST_MS);

  it('refuses a missing or damaged signing key file by name, without printing the key', async () => {
    const missing = join(dir, 'absent.json');
    const absent = await cliWith({ ...env, TMON_BACKUP__SIGNING_KEY: missing }, 'run');
    expect(absent.code).toBe(1);
    expect(absent.stderr).toBe(`error: signing key file ${missing} does not exist; make it with \`tmon-backup signing-key create <file>\`\n`);

    const good = join(dir, 'good.json');
    expect((await cliWith(env, 'signing-key', 'create', good)).code).toBe(0);
    const lines = await privateLines(good);
    const damaged = join(dir, 'damaged.json');
    await writeFile(damaged, (await readFile(good, 'utf8')).slice(0, 300), { mode: 0o600 });
    const refused = await cliWith({ ...env, TMON_BACKUP__SIGNING_KEY: damaged }, 'run');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`error: signing key file ${damaged} is not JSON\n`);
    for (const line of lines) expect(refused.stdout + refused.stderr).not.toContain(line);
  }, CLI_TEST_MS);
});
