import { describe, expect, it } from 'vitest';
import { Health } from './health.ts';

describe('a service’s health', () => {
  it('stays ready, degraded, while a dependency it can serve without fails; not ready while a required one fails', async () => {
    const health = new Health('api-gateway', 'a');
    let engineUp = false;
    let redisUp = true;
    health.add('engine', async () => {
      if (!engineUp) throw new Error('engine down');
    }, { required: false });
    health.add('redis', async () => {
      if (!redisUp) throw new Error('redis down');
    });
    health.setReady(true);
    expect(await health.report()).toMatchObject({ status: 'degraded', ready: true, checks: { engine: { ok: false, error: 'engine down' }, redis: { ok: true } } });
    engineUp = true;
    expect(await health.report()).toMatchObject({ status: 'ok', ready: true });
    redisUp = false;
    expect(await health.report()).toMatchObject({ status: 'degraded', ready: false });
    health.setReady(false);
    expect(await health.report()).toMatchObject({ status: 'down', ready: false });
  });
});
