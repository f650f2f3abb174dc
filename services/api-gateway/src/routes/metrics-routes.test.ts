import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { RawSamplesTooMany, SampleStore, VictoriaMetrics } from '@terminusa/metric-store';
import { createTestDatabase, type TestNamespace } from '@terminusa/testkit';
import type { Role } from '../auth/principal.ts';
import { serveRoutes, TEST_ROLE_HEADER, type RoutesUnderTest } from '../../test-support/routes-under-test.ts';
import { metricsRoutes, TimeParam } from './metrics-routes.ts';

let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let server: RoutesUnderTest;
let base: string;

/** The metric routes mounted as the gateway mounts them, over a sample store in the test's schema. */
beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase());
  const history = new SampleStore(pool, new VictoriaMetrics(ns.config.storage.engine));
  const ts = Date.now();
  await history.insert([
    { name: 'players_online', value: 10, ts, tags: { region: 'eu', shard: '7' } },
    { name: 'players_online', value: 12, ts, tags: { region: 'us' } },
    { name: 'system_cpu_usage_percent', value: 40, ts, tags: { host: 'a' } },
    { name: 'queue:depth', value: 3, ts, tags: {} },
  ]);
  server = await serveRoutes(metricsRoutes({ history } as unknown as Parameters<typeof metricsRoutes>[0]));
  base = server.base;
});
afterAll(async () => {
  await server?.close();
  await cleanup?.();
});

async function names(query: string, role: Role | 'none' = 'viewer') {
  const res = await fetch(`${base}/metrics/names${query}`, { headers: role === 'none' ? {} : { [TEST_ROLE_HEADER]: role } });
  return { status: res.status, body: (await res.json()) as any };
}

describe('GET /metrics/names', () => {
  it('lists each metric with stored series once, sorted', async () => {
    const { status, body } = await names('');
    expect(status).toBe(200);
    expect(body).toEqual({ names: ['players_online', 'queue:depth', 'system_cpu_usage_percent'], truncated: false });
  });

  it('narrows by a part of the name in any case, and cuts at limit', async () => {
    expect((await names('?q=CPU')).body.names).toEqual(['system_cpu_usage_percent']);
    expect((await names('?limit=1')).body).toEqual({ names: ['players_online'], truncated: true });
  });

  it('needs a credential and refuses a bad limit', async () => {
    expect((await names('', 'none')).status).toBe(401);
    expect((await names('?limit=0')).status).toBe(400);
  });
});

describe('GET /metrics/history', () => {
  it('answers 400 naming the field for a time no Date holds, instead of failing inside the query', async () => {
    const res = await fetch(`${base}/metrics/history?name=a&from=0&to=99999999999999999`, { headers: { [TEST_ROLE_HEADER]: 'viewer' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { fields: { field: string }[] }).fields).toEqual([expect.objectContaining({ field: 'to' })]);
  });

  it('answers 400 for the latest time a Date holds too, whose hour bucket would end past it', async () => {
    const res = await fetch(`${base}/metrics/history?name=a&step=1h&from=0&to=8640000000000000`, { headers: { [TEST_ROLE_HEADER]: 'viewer' } });
    expect(res.status).toBe(400);
  });

  it('answers 400 naming the tag for an empty tag value, which the engine and the rollups would read apart', async () => {
    const res = await fetch(`${base}/metrics/history?name=a&tag.host=`, { headers: { [TEST_ROLE_HEADER]: 'viewer' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { fields: { field: string; reason: string }[] }).fields).toEqual([expect.objectContaining({ field: 'host', reason: 'tag values are not empty' })]);
  });
});

describe('GET /metrics/history when the read needs more raw samples than it may hold', () => {
  it('answers 503 saying why and what narrows it, not 500', async () => {
    // The history read as the gateway wires it, refusing as queryHistory does when the rollups are hours behind.
    const behind = await serveRoutes(metricsRoutes({ maxPoints: 1000, historyQuery: async () => Promise.reject(new RawSamplesTooMany(2_000_000)) } as unknown as Parameters<typeof metricsRoutes>[0]));
    try {
      const res = await fetch(`${behind.base}/metrics/history?name=players_online&step=5m`, { headers: { [TEST_ROLE_HEADER]: 'viewer' } });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/more than 2000000 raw samples at once: the rollups are behind/);
    } finally {
      await behind.close();
    }
  });
});

describe('tag filters', () => {
  it('answers 400 naming the tag for a NUL in a tag value, which no sample has and PostgreSQL refuses', async () => {
    for (const path of ['/metrics/history?name=a&step=5m&tag.host=%00', '/metrics/current?name=a&tag.host=h%00']) {
      const res = await fetch(`${base}${path}`, { headers: { [TEST_ROLE_HEADER]: 'viewer' } });
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { fields: { field: string; reason: string }[] }).fields, path).toEqual([expect.objectContaining({ field: 'host', reason: 'tag values may not contain the NUL character (U+0000)' })]);
    }
  });
});

describe('TimeParam', () => {
  it('reads a date and time without an offset as UTC, as a date alone is', () => {
    // In a zone other than UTC (CI's), where JavaScript alone would read it as local time.
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(TimeParam.parse('2024-01-01T00:00:00')).toBe(Date.UTC(2024, 0, 1));
      expect(TimeParam.parse('2024-01-01T00:00')).toBe(Date.UTC(2024, 0, 1));
      expect(TimeParam.parse('2024-01-01T01:00:00+01:00')).toBe(Date.UTC(2024, 0, 1));
      expect(TimeParam.parse('2024-01-01')).toBe(Date.UTC(2024, 0, 1));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});
