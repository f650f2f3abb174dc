import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Redis } from 'ioredis';
import type pg from 'pg';
import { STALE_MARKER, type Sample } from '@terminusa/bus';
import { startEngineProcess, createTestDatabase, QUICK_SYNC, type EngineProcess, type TestNamespace } from '@terminusa/testkit';
import { NAMESPACE_LABEL, RedisCurrentStore, SampleStore, SeriesIds, VictoriaMetrics } from './index.ts';

let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let redis: Redis;
let engine: VictoriaMetrics;

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ overrides: QUICK_SYNC }));
  engine = new VictoriaMetrics(ns.config.storage.engine);
  redis = ns.redis();
});
afterAll(() => cleanup?.());

const sample = (name: string, ts: number, value: number, tags: Record<string, string> = {}): Sample => ({ name, ts, value, tags });

describe('SampleStore', () => {
  const engineSamples = async (name: string) => {
    const series = await engine.exportAll(`{__name__="${name}"}`, 0, 4e12);
    return series.flatMap((s) => s.timestamps.map((ts, i) => [s.labels.region ?? s.labels.id ?? '', ts, s.values[i]]));
  };

  it('stores the samples of a message once in the engine, however often the message is written', async () => {
    const store = new SampleStore(pool, engine);
    const samples = [sample('players_online', 1000, 1, { region: 'eu' }), sample('players_online', 2000, 2, { region: 'eu' }), sample('players_online', 1000, 5, { region: 'us' })];
    expect(await store.write([{ id: 'm1', samples }])).toMatchObject({ stored: 3 });
    await store.write([{ id: 'm1', samples }]);
    // A second store (another replica) with a cold series cache, and the message twice in one batch.
    await new SampleStore(pool, engine).write([{ id: 'm1', samples }, { id: 'm1', samples }]);
    expect((await engineSamples('players_online')).sort()).toEqual([['eu', 1000, 1], ['eu', 2000, 2], ['us', 1000, 5]].sort());
    // Series ids are the rollups' business: a write does not touch PostgreSQL for them.
    expect((await pool.query("SELECT count(*)::int AS n FROM series WHERE name = 'players_online'")).rows[0].n).toBe(0);
  });

  it('stores timestamps exactly, either side of PostgreSQL\'s epoch, fractions of a millisecond cut off, values to the engine\'s precision', async () => {
    const store = new SampleStore(pool, engine);
    const points: [number, number][] = [[946684799999, -0.5], [946684800000, 0], [946684800123.9, 123456.789], [946684801001, 1e-6]];
    await store.insert(points.map(([ts, v]) => sample('exact_values', ts, v)));
    expect(await engineSamples('exact_values')).toEqual(points.map(([ts, v]) => ['', Math.trunc(ts), v]));
  });

  it('keeps concurrent writers consistent: a message redelivered to four replicas stored once', async () => {
    const batch = (w: number) => Array.from({ length: 200 }, (_, i) => sample('concurrent_total', 1000 + w + 10 * Math.floor(i / 50), i, { id: String(i % 50) }));
    await Promise.all([0, 1, 2, 3].map((w) => new SampleStore(pool, engine).write([{ id: `c${w}`, samples: batch(w) }])));
    await Promise.all([0, 1, 2, 3].map(() => new SampleStore(pool, engine).write([{ id: 'redelivered', samples: batch(9) }])));
    expect(await engineSamples('concurrent_total')).toHaveLength(1000);
  });

  it('stores a staleness marker: queries stop seeing the series there, exports and redeliveries hold no extra sample', async () => {
    const store = new SampleStore(pool, engine);
    const T = 1_700_000_000_000;
    const tags = { region: 'eu' };
    const samples = [sample('players_gone', T, 1, tags), sample('players_gone', T + 15_000, 2, tags), sample('players_gone', T + 30_000, 3, tags), sample('players_gone', T + 45_000, STALE_MARKER, tags)];
    expect(await store.write([{ id: 'stale1', samples }])).toMatchObject({ stored: 3, staleMarkers: 1 });
    await store.write([{ id: 'stale1', samples }]);
    expect(await engine.query('players_gone', T + 30_000)).toEqual([{ metric: { __name__: 'players_gone', region: 'eu', [NAMESPACE_LABEL]: ns.config.storage.engine.namespace }, value: 3 }]);
    // Without the marker the engine would still answer 3 here: the last sample is inside the lookbehind window.
    expect(await engine.query('players_gone', T + 50_000)).toEqual([]);
    expect(await engine.query('absent(players_gone)', T + 50_000)).toEqual([expect.objectContaining({ value: 1 })]);
    expect(await engineSamples('players_gone')).toEqual([['eu', T, 1], ['eu', T + 15_000, 2], ['eu', T + 30_000, 3]]);
  });

  it('gives each series one id, however many resolve it at once', async () => {
    const series = Array.from({ length: 200 }, (_, i) => ({ name: 'id_total', tags: { id: String(i % 50) } }));
    const resolved = await Promise.all([0, 1, 2, 3].map(() => new SeriesIds(pool).resolve(series)));
    for (const ids of resolved) expect(ids).toEqual(resolved[0]);
    expect(new Set(resolved[0]).size).toBe(50);
    expect((await pool.query("SELECT count(*)::int AS n FROM series WHERE name = 'id_total'")).rows[0].n).toBe(50);
  });

  it('gives a series of long random tag values an id, the same one each time (its key past the key index’s row limit)', async () => {
    const random = (seed: number) => Array.from({ length: 256 }, (_, i) => String.fromCharCode(0x4e00 + ((seed * 7919 + i * 104729) % 20000))).join('');
    const tags = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`t${i}`, random(i)]));
    const [first] = await new SeriesIds(pool).resolve([{ name: 'id_long', tags }]);
    const [again] = await new SeriesIds(pool).resolve([{ name: 'id_long', tags: { ...tags } }]);
    const [other] = await new SeriesIds(pool).resolve([{ name: 'id_long', tags: { ...tags, t0: random(99) } }]);
    expect(first).toBeGreaterThan(0);
    expect(again).toBe(first);
    expect(other).not.toBe(first);
  });

  it('reads the ids of series that exist without writing their rows again (a restarted storage resolves every series anew)', async () => {
    const known = Array.from({ length: 30 }, (_, i) => ({ name: 'id_known', tags: { id: String(i) } }));
    const first = await new SeriesIds(pool).resolve(known);
    const versions = async () => (await pool.query<{ v: string }>("SELECT id::text || ':' || xmin::text AS v FROM series WHERE name = 'id_known' ORDER BY id")).rows.map((r) => r.v);
    const before = await versions();
    // A new resolver (nothing cached), with ten new series among the known ones.
    const more = [...known, ...Array.from({ length: 10 }, (_, i) => ({ name: 'id_known', tags: { id: String(30 + i) } }))];
    const again = await new SeriesIds(pool).resolve(more);
    expect(again.slice(0, 30)).toEqual(first);
    expect(new Set(again).size).toBe(40);
    expect((await versions()).slice(0, 30)).toEqual(before);
  });

  it('marks the minutes of samples older than the 1m watermark, once per metric and minute, and only those', async () => {
    const store = new SampleStore(pool, engine);
    const { rows } = await pool.query<{ until: Date }>("SELECT until FROM rollup_watermarks WHERE tier = '1m'");
    const until = rows[0]!.until.getTime();
    const result = await store.insert([sample('late_a', until - 1, 1), sample('late_a', until - 2, 2, { x: '1' }), sample('late_b', until - 61_000, 3), sample('late_a', until, 4)]);
    expect(result).toBe(4);
    const { rows: marks } = await pool.query<{ name: string; minute: Date }>("SELECT name, minute FROM rollup_dirty WHERE name LIKE 'late%' ORDER BY name");
    expect(marks.map((m) => [m.name, m.minute.getTime()])).toEqual([['late_a', until - 60_000], ['late_b', until - 120_000]]);
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

  it('keeps series apart whose tag values hold spaces, line breaks and quotes', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60);
    const odd = ['a b', 'a\nb', 'a" 1 {"x', ' '];
    await store.update(odd.map((map, i) => sample('odd_tags', 1000 + i, i, { map })));
    const values = await store.read('odd_tags', {});
    expect(new Map(values.map((v) => [v.tags.map, [v.ts, v.value]]))).toEqual(new Map(odd.map((map, i) => [map, [1000 + i, i]])));
    expect(await store.read('odd_tags', { map: 'a\nb' })).toEqual([{ name: 'odd_tags', tags: { map: 'a\nb' }, ts: 1001, value: 1 }]);
  });

  it('leaves out samples older than its age limit (a backfill), and takes the newer ones beside them', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60, 3_600_000);
    const now = Date.now();
    await store.update([sample('backfilled_gauge', now - 2 * 3_600_000, 1, { s: 'a' }), sample('backfilled_gauge', now - 600_000, 2, { s: 'b' })]);
    expect(await store.read('backfilled_gauge', {})).toEqual([{ name: 'backfilled_gauge', tags: { s: 'b' }, ts: now - 600_000, value: 2 }]);
    // Not indexed either: a tag filter finds nothing of it.
    expect(await redis.exists(`${ns.config.redis.prefix}current:backfilled_gauge|s=a`)).toBe(0);
  });

  it('stops answering a series whose newest value is older than its age limit, though others of its metric renew the hash', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60, 3_600_000);
    const now = Date.now();
    await store.update([sample('hosts_up', now - 1000, 1, { host: 'gone' }), sample('hosts_up', now - 1000, 1, { host: 'here' })]);
    await store.update([sample('hosts_up', now + 2 * 3_600_000, 1, { host: 'here' })]);
    // Two hours on: only the host that kept reporting is current.
    expect((await store.read('hosts_up', {}, now + 2 * 3_600_000)).map((v) => v.tags.host)).toEqual(['here']);
    expect(await store.read('hosts_up', { host: 'gone' }, now + 2 * 3_600_000)).toEqual([]);
  });

  it('stops answering a series whose newest sample is a staleness marker, until a newer value comes', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60);
    await store.update([sample('lobby_players', 1000, 5, { lobby: 'a' }), sample('lobby_players', 1000, 6, { lobby: 'b' })]);
    await store.update([sample('lobby_players', 2000, STALE_MARKER, { lobby: 'a' }), sample('lobby_players', 500, STALE_MARKER, { lobby: 'b' })]);
    // A late, older value does not bring the stopped series back; the older marker does not hide b's newer value.
    await store.update([sample('lobby_players', 1500, 9, { lobby: 'a' })]);
    expect(await store.read('lobby_players', {})).toEqual([{ name: 'lobby_players', tags: { lobby: 'b' }, ts: 1000, value: 6 }]);
    expect(await store.read('lobby_players', { lobby: 'a' })).toEqual([]);
    await store.update([sample('lobby_players', 3000, 1, { lobby: 'a' })]);
    expect(await store.read('lobby_players', { lobby: 'a' })).toEqual([{ name: 'lobby_players', tags: { lobby: 'a' }, ts: 3000, value: 1 }]);
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

  it('updates a large fleet\'s batch of 60,000 series at once (one call with them all overflowed the stack)', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60);
    const perName = 30_000;
    const names = ['fleet_a', 'fleet_b'];
    await store.update(names.flatMap((name) => Array.from({ length: perName }, (_, i) => sample(name, 1000, i, { series: String(i) }))));
    for (const name of names) {
      expect(await redis.hlen(`${ns.config.redis.prefix}current:${name}`)).toBe(perName);
      expect(await store.read(name, { series: '29999' })).toEqual([{ name, tags: { series: '29999' }, ts: 1000, value: 29_999 }]);
    }
  });

  it('reads a tag shared by 150,000 series of a metric, and drops their index entries once the hash expired', async () => {
    const store = new RedisCurrentStore(redis, ns.config.redis.prefix, 60);
    const count = 150_000;
    await store.update(Array.from({ length: count }, (_, i) => sample('wide_metric', 1000, i, { region: 'eu', series: String(i) })));
    const values = await store.read('wide_metric', { region: 'eu' });
    expect(values).toHaveLength(count);
    expect(values.find((v) => v.tags.series === '149999')).toEqual({ name: 'wide_metric', tags: { region: 'eu', series: '149999' }, ts: 1000, value: 149_999 });
    await redis.del(`${ns.config.redis.prefix}current:wide_metric`);
    expect(await store.read('wide_metric', { region: 'eu' })).toEqual([]);
    expect(await redis.scard(`${ns.config.redis.prefix}current:wide_metric|region=eu`)).toBe(0);
  });
});

describe('SampleStore.names on an engine that will not list the names of that many series', () => {
  let limited: EngineProcess;
  beforeAll(async () => {
    limited = await startEngineProcess({ flags: ['-search.maxUniqueTimeseries=5'] });
  });
  afterAll(() => limited?.cleanup());

  it('answers the names the engine counts instead of its refusal', async () => {
    const db = await createTestDatabase({ overrides: { ...QUICK_SYNC, storage: { engine: { url: limited.url } } } });
    try {
      const store = new SampleStore(db.pool, new VictoriaMetrics(db.ns.config.storage.engine));
      const now = Date.now();
      await store.insert(['lobby_players', 'match_seconds', 'queue_depth'].flatMap((name) => Array.from({ length: 4 }, (_, i) => sample(name, now - 60_000, i, { id: String(i) }))));
      await expect(new VictoriaMetrics(db.ns.config.storage.engine).names(now - 86_400_000, now)).rejects.toMatchObject({ status: 422 });
      expect(await store.names(now)).toEqual(['lobby_players', 'match_seconds', 'queue_depth']);
    } finally {
      await db.cleanup();
    }
  });
});
