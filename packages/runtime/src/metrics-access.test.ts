import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { Health } from './health.ts';
import { isLoopback, metricsAccess } from './metrics-access.ts';
import { startOpsServer, type OpsServer } from './ops-server.ts';

const TOKEN = 'a-metrics-token-of-at-least-32-characters';
/** An address of this host that is not loopback: requests to it arrive from it, as from another host. */
const offLoopback = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

describe('metricsAccess', () => {
  it('tells loopback addresses from the others', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of [undefined, '', '10.0.0.1', '192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '::', '128.0.0.1', '::ffff:1.127.0.0']) expect(isLoopback(a), String(a)).toBe(false);
  });

  it('without a token lets loopback read and refuses everyone else, whatever they show', () => {
    expect(metricsAccess(undefined, '127.0.0.1', undefined)).toEqual({ allowed: true });
    expect(metricsAccess(undefined, '10.1.2.3', `Bearer ${TOKEN}`)).toMatchObject({ allowed: false, status: 403, reason: expect.stringContaining('OPS_METRICS_TOKEN') });
  });

  it('with a token wants it from everyone, loopback included', () => {
    expect(metricsAccess(TOKEN, '10.1.2.3', `Bearer ${TOKEN}`)).toEqual({ allowed: true });
    for (const shown of [undefined, '', TOKEN, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`]) {
      expect(metricsAccess(TOKEN, '127.0.0.1', shown), String(shown)).toMatchObject({ allowed: false, status: 401 });
    }
  });
});

describe('the ops server', () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const start = async (token?: string) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'test' });
    server = await startOpsServer(new Health('test', 'test-1'), registry, '0.0.0.0', 0, token);
    return server.port;
  };

  it('serves /metrics to the bearer of the token and answers 401 otherwise; health stays public', async () => {
    const port = await start(TOKEN);
    const base = `http://127.0.0.1:${port}`;
    const refused = await fetch(`${base}/metrics`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await refused.text()).not.toContain(TOKEN);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const allowed = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toBe('\n');
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    // Health answers everyone, its checks only the token's bearer.
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'down', ready: false });
    expect(await (await fetch(`${base}/health`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()).toMatchObject({ service: 'test', instance: 'test-1', status: 'down', checks: {} });
    if (offLoopback) expect((await fetch(`http://${offLoopback}:${port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it.skipIf(!offLoopback)('without a token serves /metrics over loopback only', async () => {
    const port = await start();
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    const remote = await fetch(`http://${offLoopback}:${port}/metrics`);
    expect(remote.status).toBe(403);
    expect(((await remote.json()) as { error: string }).error).toContain('ops.metricsToken');
    expect((await fetch(`http://${offLoopback}:${port}/health/live`)).status).toBe(200);
    expect(await (await fetch(`http://${offLoopback}:${port}/health/ready`)).json()).toEqual({ status: 'down', ready: false });
    expect(await (await fetch(`http://127.0.0.1:${port}/health/ready`)).json()).toMatchObject({ service: 'test', checks: {} });
  });
});
