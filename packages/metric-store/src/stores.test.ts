import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type pg from 'pg';
import type { Sample } from '@terminusa/bus';
import { createTestNamespace, type TestNamespace } from '@terminusa/testkit';
import { createPool, migrate } from '@terminusa/database';
import { PgSampleStore, RedisCurrentStore } from './index.ts';

let ns: TestNamespace;
let pool: pg.Pool;
let redis: Redis;

beforeAll(async () => {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'test');
  await migrate(pool, ns.config.database.schema);
  redis = new Redis(ns.config.redis.url);
});
afterAll(async () => {
  await pool.end();
  redis.disconnect();
  await ns.cleanup();
});

const sample = (name: string, ts: number, value: number, tags: Record<string, string> = {}): Sample => ({ name, ts, value, tags });

describe('PgSampleStore', () => {
  it('stores the samples of a message once, however often the message is written', async () => {
    const store = new PgSampleStore(pool);
    const samples = [sample('players_online', 1000, 1, { region: 'eu' }), sample('players_online', 2000, 2, { region: 'eu' }), sample('players_online', 1000, 5, { region: 'us' })];
    // Both eu samples lie in one minute of one series: one row waits for the fold for them.
    expect(await store.write([{ id: 'm1', samples }])).toEqual({ stored: 3, duplicates: 0, pendingRows: 2 });
    expect(await store.write([{ id: 'm1', samples }])).toEqual({ stored: 0, duplicates: 1, pendingRows: 0 });
    // A second store (another replica) with a cold series cache, and the message twice in one batch.
    expect(await new PgSampleStore(pool).write([{ id: 'm1', samples }, { id: 'm1', samples }])).toEqual({ stored: 0, duplicates: 1, pendingRows: 0 });
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM samples s JOIN series se ON se.id = s.series_id WHERE se.name = 'players_online'");
    expect(rows[0].n).toBe(3);
    const { rows: series } = await pool.query("SELECT count(*)::int AS n FROM series WHERE name = 'players_online'");
    expect(series[0].n).toBe(2);
  });

  it('answers history by name, tag filter and inclusive time range, with millisecond timestamps', async () => {
    const store = new PgSampleStore(pool);
    await store.insert([sample('latency_ms', 1764115200123, 10, { shard: '1' }), sample('latency_ms', 1764115201123, 11, { shard: '1' }), sample('latency_ms', 1764115200500, 20, { shard: '2' })]);
    const all = await store.history('latency_ms', {}, 1764115200123, 1764115201123, 100);
    expect(all.truncated).toBe(false);
    expect(all.series).toEqual([
      { name: 'latency_ms', tags: { shard: '1' }, points: [[1764115200123, 10], [1764115201123, 11]] },
      { name: 'latency_ms', tags: { shard: '2' }, points: [[1764115200500, 20]] },
    ]);
    const one = await store.history('latency_ms', { shard: '2' }, 0, Date.now(), 100);
    expect(one.series.map((s) => s.tags)).toEqual([{ shard: '2' }]);
    const capped = await store.history('latency_ms', {}, 0, Date.now(), 2);
    expect(capped.truncated).toBe(true);
    expect(capped.series.flatMap((s) => s.points)).toHaveLength(2);
  });

  it('stores timestamps and values exactly, either side of PostgreSQL\'s epoch, fractions of a millisecond cut off', async () => {
    const store = new PgSampleStore(pool);
    const points: [number, number][] = [[946684799999, -0.5], [946684800000, 0], [946684800123.9, 1e300], [946684801001, Number.MIN_VALUE]];
    await store.insert(points.map(([ts, v]) => sample('exact_values', ts, v)));
    const { series } = await store.history('exact_values', {}, 0, 2e12, 100);
    expect(series[0]!.points).toEqual(points.map(([ts, v]) => [Math.trunc(ts), v]));
    // Waiting for the fold: one row per series and minute, ts and value of the minute's newest sample.
    const { rows } = await pool.query(
      `SELECT extract(epoch FROM p.ts) * 1000 AS ts, p.value, p.count::int, p.sum, p.min, p.max FROM rollup_pending p JOIN series s ON s.id = p.series_id
        WHERE s.name = 'exact_values' ORDER BY p.ts`,
    );
    expect(rows.map((r) => ({ ...r, ts: Number(r.ts) }))).toEqual([
      { ts: 946684799999, value: -0.5, count: 1, sum: null, min: null, max: null },
      { ts: 946684801001, value: Number.MIN_VALUE, count: 3, sum: 1e300 + Number.MIN_VALUE, min: 0, max: 1e300 },
    ]);
  });

  it('keeps concurrent writers consistent: new series created once, a message redelivered to four replicas stored once', async () => {
    const batch = (w: number) => Array.from({ length: 200 }, (_, i) => sample('concurrent_total', 1000 + w, i, { id: String(i % 50) }));
    const distinct = await Promise.all([0, 1, 2, 3].map((w) => new PgSampleStore(pool).write([{ id: `c${w}`, samples: batch(w) }])));
    expect(distinct.reduce((n, r) => n + r.stored, 0)).toBe(800);
    const same = await Promise.all([0, 1, 2, 3].map(() => new PgSampleStore(pool).write([{ id: 'redelivered', samples: batch(9) }])));
    expect(same.map((r) => r.stored).sort()).toEqual([0, 0, 0, 200]);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM series WHERE name = 'concurrent_total'");
    expect(rows[0].n).toBe(50);
    const { rows: stored } = await pool.query("SELECT count(*)::int AS n FROM samples s JOIN series se ON se.id = s.series_id WHERE se.name = 'concurrent_total'");
    expect(stored[0].n).toBe(1000);
  });
});

describe('RedisCurrentStore', () => {
  it('keeps the newest value of each series even when an older batch arrives later', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60);
    await store.update([sample('players_online', 2000, 20, { region: 'eu' }), sample('players_online', 1000, 10, { region: 'eu' }), sample('players_online', 1500, 7, { region: 'us' })]);
    await store.update([sample('players_online', 1800, 99, { region: 'eu' })]);
    expect(await store.read('players_online', {})).toEqual([
      { name: 'players_online', tags: { region: 'eu' }, ts: 2000, value: 20 },
      { name: 'players_online', tags: { region: 'us' }, ts: 1500, value: 7 },
    ]);
    expect(await store.read('players_online', { region: 'us' })).toEqual([{ name: 'players_online', tags: { region: 'us' }, ts: 1500, value: 7 }]);
    expect(await store.read('unknown_metric', {})).toEqual([]);
    expect(await redis.ttl(`${ns.config.redis.prefix}current:players_online`)).toBeGreaterThan(0);
  });

  it('answers tag filters from its index, and forgets series whose values expired', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60);
    await store.update(Array.from({ length: 300 }, (_, i) => sample('idx_metric', 1000, i, { pod: String(i), shard: String(i % 10), region: i % 2 ? 'eu' : 'us' })));
    const both = await store.read('idx_metric', { shard: '3', region: 'eu' });
    expect(both.map((v) => v.value).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, k) => 3 + 10 * k));
    expect(await store.read('idx_metric', { shard: '3', region: 'us' })).toEqual([]);
    expect(await store.read('idx_metric', { nosuchtag: 'x' })).toEqual([]);
    // The hash expires as a whole; a later write brings back only the series written again.
    await redis.del(`${ns.config.redis.prefix}current:idx_metric`);
    await store.update([sample('idx_metric', 2000, 7, { shard: '3', region: 'eu' })]);
    expect(await store.read('idx_metric', { shard: '3' })).toEqual([{ name: 'idx_metric', tags: { region: 'eu', shard: '3' }, ts: 2000, value: 7 }]);
    expect(await redis.scard(`${ns.config.redis.prefix}current:idx_metric|shard=3`)).toBe(1);
  });

  it('updates thousands of series of one metric in one batch, older values in the same batch kept back', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60);
    const pods = 2_500;
    await store.update(Array.from({ length: pods }, (_, i) => sample('big_metric', 1000, i, { pod: String(i) })));
    // Newer values for the even pods, an older one for every pod: only the newer ones may land.
    await store.update([
      ...Array.from({ length: pods / 2 }, (_, k) => sample('big_metric', 2000, 100_000 + 2 * k, { pod: String(2 * k) })),
      ...Array.from({ length: pods }, (_, i) => sample('big_metric', 500, 1e6, { pod: String(i) })),
      sample('other_metric', 1000, 1, {}),
    ]);
    const values = await store.read('big_metric', {});
    expect(values).toHaveLength(pods);
    const byPod = new Map(values.map((v) => [Number(v.tags.pod), v]));
    for (let i = 0; i < pods; i++) expect(byPod.get(i)).toMatchObject(i % 2 === 0 ? { ts: 2000, value: 100_000 + i } : { ts: 1000, value: i });
    expect(await store.read('big_metric', { pod: '2499' })).toEqual([{ name: 'big_metric', tags: { pod: '2499' }, ts: 1000, value: 2499 }]);
    expect(await store.read('other_metric', {})).toEqual([{ name: 'other_metric', tags: {}, ts: 1000, value: 1 }]);
  });
});
