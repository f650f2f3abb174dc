import { readFile, stat } from 'node:fs/promises';
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
