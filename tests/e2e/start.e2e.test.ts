import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, healthAnswers, startEngineProcess, STARTUP_MS, useTestNamespacePerTest, waitFor, type EngineProcess, type TestNamespace } from '@terminusa/testkit';

// `pnpm start` as the README's first line runs it: no VM_URL, so it starts the embedded engine with its data under
// DATA_DIR when nothing answers on the engine's port, and uses the one that answers otherwise; either way every
// backup holds that engine's snapshot.
let ns: TestNamespace;
let dataDir: string;
const ADMIN_PASSWORD = 'start-admin-password-1';

useTestNamespacePerTest((opened) => (ns = opened));
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'tmon-start-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** `pnpm start` in a process group of its own, as a terminal's foreground job, with the engine at `engineUrl`. */
class StartedSuite {
  readonly proc: ChildProcess;
  output = '';

  constructor(
    readonly base: string,
    engineUrl: string,
  ) {
    // Not the tests' shared engine: VM_URL unset, as on a fresh machine.
    const nsEnv = Object.fromEntries(Object.entries(ns.env).filter(([name]) => name !== 'VM_URL'));
    this.proc = spawn(process.execPath, ['scripts/start.mjs'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        ...nsEnv,
        DATA_DIR: dataDir,
        GATEWAY_PORT: new URL(base).port,
        GATEWAY_HOST: '127.0.0.1',
        OPS_PORT: '0',
        ADMIN_PASSWORD,
        LOG_LEVEL: 'warn',
        TMON_STORAGE__ENGINE__URL: engineUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Ctrl-C and the cleanup reach every process in the group.
      detached: true,
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  static async start(engineUrl: string): Promise<StartedSuite> {
    const suite = new StartedSuite(`http://127.0.0.1:${await freePort()}`, engineUrl);
    await waitFor(async () => ((await healthAnswers(suite.base)) ? true : undefined), STARTUP_MS, 'the gateway of pnpm start').catch((err: unknown) => {
      suite.kill();
      throw new Error(`${String(err)}\n${suite.output.slice(-3000)}`);
    });
    return suite;
  }

  /** Takes a full backup through the API and returns its manifest as written. */
  async backupManifest(): Promise<{ engine?: { files: unknown[] } }> {
    const login = await fetch(`${this.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    const { token } = (await login.json()) as { token: string };
    const api = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${this.base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      return { status: res.status, body: (await res.json()) as any };
    };
    // The backup service discovers its queue a moment after the gateway answers: the request waits for it.
    const queued = await waitFor(async () => {
      const res = await api('/backups', { method: 'POST', body: JSON.stringify({ kind: 'full' }) });
      return res.status === 202 ? res.body : undefined;
    }, STARTUP_MS, 'a backup queued');
    await waitFor(async () => {
      const { body } = await api(`/backups/jobs/${queued.jobId}`);
      if (body.state === 'failed') throw new Error(`backup failed: ${JSON.stringify(body)}`);
      return body.state === 'completed' ? body : undefined;
    }, 30_000, 'the backup taken');
    const { body } = await api('/backups');
    const id = (body.backups as { id: string }[]).at(-1)!.id;
    return JSON.parse(await readFile(join(dataDir, 'backups', id, 'manifest.json'), 'utf8'));
  }

  /** Ctrl-C; resolves with the exit code. */
  async interrupt(): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => this.proc.once('exit', resolve));
    process.kill(-this.proc.pid!, 'SIGINT');
    return exited;
  }

  kill(): void {
    if (this.proc.pid && this.proc.exitCode === null) process.kill(-this.proc.pid, 'SIGKILL');
  }
}

describe('pnpm start', () => {
  let suite: StartedSuite | undefined;
  let engine: EngineProcess | undefined;
  afterEach(async () => {
    suite?.kill();
    await engine?.cleanup();
    suite = engine = undefined;
  });

  it('starts the embedded engine, puts its snapshot in every backup, and stops it all on Ctrl-C', async () => {
    const engineUrl = `http://127.0.0.1:${await freePort()}`;
    suite = await StartedSuite.start(engineUrl);
    expect(await healthAnswers(engineUrl)).toBe(true);
    const manifest = await suite.backupManifest();
    expect(manifest.engine?.files.length, suite.output.slice(-3000)).toBeGreaterThan(0);
    expect(suite.output).not.toContain('backups hold no raw samples');

    expect(await suite.interrupt(), suite.output.slice(-3000)).toBe(0);
    expect(await healthAnswers(engineUrl)).toBe(false);
  }, 2 * STARTUP_MS);

  it('uses an engine already answering on this machine, puts its snapshot in every backup, and leaves it running on Ctrl-C', async () => {
    // As one an earlier `pnpm start` left behind when it was killed.
    engine = await startEngineProcess({ port: await freePort() });
    suite = await StartedSuite.start(engine.url);
    expect(suite.output).toContain(`using the engine at ${engine.url}`);
    const manifest = await suite.backupManifest();
    expect(manifest.engine?.files.length, suite.output.slice(-3000)).toBeGreaterThan(0);
    expect(suite.output).not.toContain('backups hold no raw samples');

    expect(await suite.interrupt(), suite.output.slice(-3000)).toBe(0);
    expect(await healthAnswers(engine.url)).toBe(true);
  }, 2 * STARTUP_MS);
});
