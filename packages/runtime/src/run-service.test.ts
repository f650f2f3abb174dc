import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { discoverInstances, runService, type RunningService } from './index.ts';

let ns: TestNamespace;
let nc: NatsConnection;

useTestNamespace((opened) => (ns = opened), { ops: { port: 0, host: '127.0.0.1' }, shutdownTimeout: 1 });
beforeAll(async () => {
  nc = await connect({ servers: ns.config.nats.url });
});
afterAll(async () => {
  await nc.close();
});

async function start(onStart?: Parameters<typeof runService>[0]['start']): Promise<RunningService> {
  return runService({ name: 'backup', description: 'test service', start: onStart ?? (async () => undefined) }, { config: ns.config, handleSignals: false });
}

describe('runService', () => {
  it('serves health with each dependency, metrics on its own registry, and registers for discovery', async () => {
    let healthy = true;
    const service = await start(async ({ health, registry }) => {
      health.add('disk', async () => {
        if (!healthy) throw new Error('disk full');
      });
      registry.registerMetric(new (await import('prom-client')).Counter({ name: 'tmon_test_total', help: 'test', registers: [] }));
    });
    const base = `http://127.0.0.1:${service.opsPort}`;
    const ok = await fetch(`${base}/health`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ service: 'backup', status: 'ok', ready: true, checks: { nats: { ok: true }, disk: { ok: true } } });

    healthy = false;
    const bad = await fetch(`${base}/health/ready`);
    expect(bad.status).toBe(503);
    expect(await bad.json()).toMatchObject({ status: 'degraded', ready: false, checks: { disk: { ok: false, error: 'disk full' } } });
    expect((await fetch(`${base}/health/live`)).status).toBe(200);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('tmon_test_total');
    expect(metrics).toContain('tmon_process_cpu_seconds_total');
    expect(metrics).toContain(`instance="${service.context.instance}"`);

    const found = await discoverInstances(nc, ns.config.nats.prefix);
    expect(found.map((i) => [i.service, i.instance, i.opsPort])).toEqual([['backup', service.context.instance, service.opsPort]]);
    const pong = await nc.request('$SRV.PING.backup', undefined, { timeout: 1000 });
    expect(JSON.parse(new TextDecoder().decode(pong.data))).toMatchObject({ name: 'backup', type: 'io.nats.micro.v1.ping_response' });

    expect(await service.stop()).toBe(true);
    expect(await discoverInstances(nc, ns.config.nats.prefix)).toEqual([]);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });

  it('runs stop steps in reverse order and gives up after the shutdown timeout', async () => {
    const order: string[] = [];
    const service = await start(async ({ onStop }) => {
      onStop('store', () => void order.push('store'));
      onStop('stuck consumer', () => new Promise<void>(() => order.push('consumer')));
    });
    const started = Date.now();
    expect(await service.stop()).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(order).toEqual(['consumer']);
  });
});
