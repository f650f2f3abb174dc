import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNamespace, freePort, healthAnswers, STARTUP_MS, waitFor, type TestNamespace } from '@terminusa/testkit';

// `pnpm start` as the README's first line runs it: no VM_URL and nothing on the engine's port, so it starts the
// embedded engine with its data under DATA_DIR, and every backup holds that engine's snapshot.
let ns: TestNamespace;
let dataDir: string;
let start: ChildProcess;
let output = '';
let base: string;
let engineUrl: string;
const ADMIN_PASSWORD = 'start-admin-password-1';

beforeAll(async () => {
  ns = await createTestNamespace();
  dataDir = await mkdtemp(join(tmpdir(), 'tmon-start-'));
  const [gatewayPort, enginePort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${gatewayPort}`;
  engineUrl = `http://127.0.0.1:${enginePort}`;
  // Not the tests' shared engine: VM_URL unset, as on a fresh machine.
  const nsEnv = Object.fromEntries(Object.entries(ns.env).filter(([name]) => name !== 'VM_URL'));
  start = spawn(process.execPath, ['scripts/start.mjs'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...nsEnv,
      DATA_DIR: dataDir,
      GATEWAY_PORT: String(gatewayPort),
      GATEWAY_HOST: '127.0.0.1',
      OPS_PORT: '0',
      ADMIN_PASSWORD,
      LOG_LEVEL: 'warn',
      TMON_STORAGE__ENGINE__URL: engineUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, as a terminal's foreground job: Ctrl-C and the cleanup reach every process in it.
    detached: true,
  });
  start.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  start.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(async () => ((await healthAnswers(base)) ? true : undefined), STARTUP_MS, 'the gateway of pnpm start').catch((err: unknown) => {
    throw new Error(`${String(err)}\n${output.slice(-3000)}`);
  });
}, STARTUP_MS + 10_000);

afterAll(async () => {
  if (start?.pid && start.exitCode === null) process.kill(-start.pid, 'SIGKILL');
  await ns?.cleanup();
  await rm(dataDir, { recursive: true, force: true });
});

describe('pnpm start', () => {
  it('starts the embedded engine, puts its snapshot in every backup, and stops it all on Ctrl-C', async () => {
    expect(await healthAnswers(engineUrl)).toBe(true);
    const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    const api = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      return { status: res.status, body: (await res.json()) as any };
    };

    // The backup service discovers its queue a moment after the gateway answers: the request waits for it.
    const queued = await waitFor(async () => {
      const res = await api('/backups', { method: 'POST', body: JSON.stringify({ kind: 'full' }) });
      return res.status === 202 ? res.body : undefined;
    }, STARTUP_MS, 'a backup queued');
    const job = await waitFor(async () => {
      const { body } = await api(`/backups/jobs/${queued.jobId}`);
      if (body.state === 'failed') throw new Error(`backup failed: ${JSON.stringify(body)}`);
      return body.state === 'completed' ? body : undefined;
    }, 30_000, 'the backup taken');
    const { body } = await api('/backups');
    const id = (body.backups as { id: string }[]).at(-1)!.id;
    const manifest = JSON.parse(await readFile(join(dataDir, 'backups', id, 'manifest.json'), 'utf8'));
    expect(manifest.engine?.files.length, JSON.stringify(job)).toBeGreaterThan(0);
    expect(output).not.toContain('backups hold no raw samples');

    process.kill(-start.pid!, 'SIGINT');
    const code = await new Promise<number | null>((resolve) => start.once('exit', resolve));
    expect(code, output.slice(-3000)).toBe(0);
    expect(await healthAnswers(engineUrl)).toBe(false);
  });
});
