import { spawn } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestNamespace, freePort, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';

let ns: TestNamespace | undefined;
let gateway: ServiceProcess | undefined;

afterAll(async () => {
  gateway?.kill('SIGKILL');
  await ns?.cleanup();
});


describe('the first admin', () => {
  it('gets a generated password in a 0600 file whose path is logged and whose content never is', async () => {
    ns = await createTestNamespace();
    const port = await freePort();
    gateway = startServiceProcess('api-gateway', { ...ns.env, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', OPS_PORT: '0', LOG_LEVEL: 'debug' });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => ((await fetch(`${base}/health`)).status === 200 ? true : undefined), 30_000, 'gateway up', 200);

    const file = join(ns.env.DATA_DIR!, 'admin-password');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const password = (await readFile(file, 'utf8')).trim();
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect((await stat(join(ns.env.DATA_DIR!, 'jwt-secret'))).mode & 0o777).toBe(0o600);

    const login = (body: object) => fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await login({ username: 'admin', password: 'not-the-password' })).status).toBe(401);
    expect((await login({ username: 'admin' })).status).toBe(400);
    const ok = await login({ username: 'admin', password });
    expect(ok.status).toBe(200);
    const { token } = (await ok.json()) as { token: string };
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid?: string; alg: string };
    expect(header).toMatchObject({ alg: 'HS256', kid: expect.any(String) });

    const authed = await fetch(`${base}/metrics/current?name=up`, { headers: { authorization: `Bearer ${token}` } });
    expect(authed.status).toBe(200);
    const forged = await fetch(`${base}/metrics/current?name=up`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
    expect(forged.status).toBe(401);

    const output = gateway.output();
    expect(output).toContain(file);
    expect(output).not.toContain(password);
    expect(output).not.toContain(token);
  });
});

describe('an existing admin', () => {
  it('is not given a new password file beside an existing database, and tmon-gateway reset-password sets one, audited', async () => {
    const first = await createTestNamespace();
    try {
      const port = await freePort();
      const env = { ...first.env, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', OPS_PORT: '0' };
      const up = async (proc: ServiceProcess) => {
        await waitFor(async () => ((await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200 ? true : undefined), 30_000, 'gateway up', 200);
        return proc;
      };
      // The first start creates the admin; then the data folder is wiped, as a second checkout or a new volume would.
      let proc = await up(startServiceProcess('api-gateway', env));
      proc.kill('SIGKILL');
      await proc.exited;
      await rm(join(first.env.DATA_DIR!, 'admin-password'));
      proc = await up(startServiceProcess('api-gateway', env));
      await expect(stat(join(first.env.DATA_DIR!, 'admin-password'))).rejects.toThrow(/ENOENT/);
      expect(proc.output()).toContain('the admin exists, so no admin-password file is written');
      expect(proc.output()).toContain('tmon-gateway.mjs reset-password');

      const reset = await run(['reset-password', 'admin'], env);
      expect(reset.code, reset.stderr).toBe(0);
      const password = reset.stdout.trim();
      expect(password.length).toBeGreaterThanOrEqual(20);
      const login = await fetch(`http://127.0.0.1:${port}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
      expect(login.status).toBe(200);
      const { token } = (await login.json()) as { token: string };
      const audit = (await (await fetch(`http://127.0.0.1:${port}/audit?action=user.password-reset`, { headers: { authorization: `Bearer ${token}` } })).json()) as { entries: { actor: string; detail: { username: string } }[] };
      expect(audit.entries).toEqual([expect.objectContaining({ actor: expect.stringMatching(/^local:/), detail: expect.objectContaining({ username: 'admin' }) })]);
      expect((await run(['reset-password', 'nobody'], env)).code).toBe(6);

      // A second reset ends the sessions the old password opened.
      const me = () => fetch(`http://127.0.0.1:${port}/users`, { headers: { authorization: `Bearer ${token}` } });
      expect((await me()).status).toBe(200);
      const again = await run(['reset-password', 'admin'], env);
      expect(again.code, again.stderr).toBe(0);
      expect((await me()).status).toBe(401);
      proc.kill('SIGKILL');
      await proc.exited;
    } finally {
      await first.cleanup();
    }
  });
});

/** Runs `tmon-gateway` with `env`, as an operator would on a host that reaches the database. */
function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'tmon-gateway.mjs'), ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
