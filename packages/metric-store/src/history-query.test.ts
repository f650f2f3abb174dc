import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type pg from 'pg';
import type { Sample } from '@terminusa/bus';
import { createTestDatabase, QUICK_SYNC, type TestNamespace } from '@terminusa/testkit';
import { computeRollups, PartitionManager, SampleStore, SeriesIds, TIERS, VictoriaMetrics, type Tier } from './index.ts';
import { tierRetentionMs } from './tiers.ts';
import { planSegments, queryHistory, RawBudget, RawSamplesTooMany, type HistoryAgg, type HistoryAnswer, type HistoryQuery } from './history-query.ts';
import { markPassed } from './rollup/dirty-minutes.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.now();

let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let engine: VictoriaMetrics;
let stores: { pool: pg.Pool; engine: VictoriaMetrics };

beforeEach(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ overrides: QUICK_SYNC }));
  engine = new VictoriaMetrics(ns.config.storage.engine);
  stores = { pool, engine };
});
afterEach(() => cleanup());

/** Computes the rollups from the engine as the storage service's job does, every minute up to now counted as settled. */
async function foldRollups(): Promise<void> {
  await computeRollups({ pool, engine, partitions: new PartitionManager(pool), series: new SeriesIds(pool), settleMs: 0, rawRetentionMs: 10_000 * DAY });
}

/** Retention under which `tier` is the finest tier covering anything: finer tiers keep nothing. */
function onlyFrom(tier: Tier): Record<Tier, number> {
  return Object.fromEntries(TIERS.map((t) => [t, TIERS.indexOf(t) < TIERS.indexOf(tier) ? 0 : 10_000 * DAY])) as Record<Tier, number>;
}

interface Row {
  series: number;
  ts: number;
  value: number;
}
const seriesTags = (i: number) => ({ s: `s${i}`, region: i % 2 ? 'a' : 'b' });
const toSamples = (name: string, rows: readonly Row[]): Sample[] => rows.map((r) => ({ name, ts: r.ts, value: r.value, tags: seriesTags(r.series) }));

/** What an answer must hold, computed from the raw rows: per answered series' tags, points by time, within each segment. */
function expectMatches(answer: HistoryAnswer, rows: readonly Row[], q: Pick<HistoryQuery, 'from' | 'to' | 'agg' | 'groupBy' | 'tags'>): void {
  const segs = answer.segments;
  expect(segs[0]!.start).toBe(segs[0]!.step ? Math.floor(q.from / segs[0]!.step) * segs[0]!.step : q.from);
  for (let i = 1; i < segs.length; i++) expect(segs[i]!.start).toBe(segs[i - 1]!.end);
  const last = segs.at(-1)!;
  expect(last.end).toBe(last.step ? Math.floor(q.to / last.step) * last.step + last.step : q.to + 1);
  expect(answer.tier).toBe(segs[0]!.tier);
  expect(answer.step).toBe(segs[0]!.step);

  const groupOf = (series: number): Record<string, string> => {
    const tags = seriesTags(series);
    if (q.groupBy) return Object.fromEntries(q.groupBy.filter((k) => k in tags).map((k) => [k, tags[k as keyof typeof tags]]));
    return q.agg ? {} : tags;
  };
  const cells = new Map<string, Map<number, { count: number; sum: number; min: number; max: number; abs: number; banded: boolean }>>();
  for (const r of rows) {
    if (q.tags.region !== undefined && seriesTags(r.series).region !== q.tags.region) continue;
    const seg = segs.find((s) => r.ts >= s.start && r.ts < s.end);
    if (!seg) continue;
    const key = JSON.stringify(Object.entries(groupOf(r.series)).sort());
    const at = seg.step ? Math.floor(r.ts / seg.step) * seg.step : r.ts;
    const byTs = cells.get(key) ?? new Map();
    cells.set(key, byTs);
    const c = byTs.get(at) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity, abs: 0, banded: seg.step > 0 };
    byTs.set(at, c);
    c.count++;
    c.sum += r.value;
    c.abs += Math.abs(r.value);
    c.min = Math.min(c.min, r.value);
    c.max = Math.max(c.max, r.value);
  }
  const got = new Map(answer.series.map((s) => [JSON.stringify(Object.entries(s.tags).sort()), s.points]));
  expect([...got.keys()].sort()).toEqual([...cells.keys()].sort());
  for (const [key, byTs] of cells) {
    const points = got.get(key)!;
    const want = [...byTs.entries()].sort((a, b) => a[0] - b[0]);
    expect(points.map((p) => p[0])).toEqual(want.map(([ts]) => ts));
    want.forEach(([, c], i) => {
      const [, value, min, max] = points[i]!;
      const agg: HistoryAgg = q.agg ?? 'avg';
      const exact = { avg: c.sum / c.count, sum: c.sum, min: c.min, max: c.max }[agg];
      // Sums in another order differ in the last bits; the bound scales with the magnitudes summed.
      const tolerance = agg === 'avg' ? 1e-9 * Math.max(Math.abs(exact), c.abs / c.count) : agg === 'sum' ? 1e-9 * c.abs : 0;
      expect(Math.abs(value - exact), `${agg} at ${key} ${want[i]![0]}: ${value} vs ${exact}`).toBeLessThanOrEqual(tolerance);
      // PostgreSQL may keep -0 where the rows had 0 too; the band is compared as numbers.
      if (c.banded) expect([min! + 0, max! + 0]).toEqual([c.min + 0, c.max + 0]);
      else expect(points[i]).toHaveLength(2);
    });
  }
}

/** Raw rows over the last 20 h of up to four series, in two batches (the second is written after a fold). */
const history = fc.record({
  series: fc.integer({ min: 1, max: 4 }),
  // Unbiased ages: fast-check's bias toward small numbers would keep nearly every row in the newest minutes.
  // The engine stores decimals and keeps about 12 significant digits exactly, so values carry at most 10.
  rows: fc.array(fc.record({ series: fc.nat(3), age: fc.noBias(fc.integer({ min: 0, max: 20 * HOUR })), value: fc.integer({ min: -1e9, max: 1e9 }).map((v) => v / 1e3) }), { minLength: 1, maxLength: 80 }),
  split: fc.nat(),
  fromAge: fc.noBias(fc.integer({ min: MIN, max: 21 * HOUR })),
  toAge: fc.oneof(fc.constant(0), fc.noBias(fc.integer({ min: 0, max: 21 * HOUR }))),
  region: fc.constantFrom(undefined, 'a'),
});
type History = typeof history extends fc.Arbitrary<infer T> ? T : never;

let run = 0;
/**
 * Writes a generated history in two batches with a rollup run between them and after them: the second batch's
 * rows are late (before the 1m watermark) where they are older than the first run. A series holds one sample per
 * timestamp, as in the engine, so rows repeating one are dropped here.
 */
async function load(h: History): Promise<{ name: string; rows: Row[] }> {
  const name = `prop_${run++}`;
  const seen = new Set<string>();
  const rows = h.rows.map((r) => ({ series: r.series % h.series, ts: NOW - r.age, value: r.value })).filter((r) => !seen.has(`${r.series}:${r.ts}`) && seen.add(`${r.series}:${r.ts}`));
  const cut = h.split % (rows.length + 1);
  const store = new SampleStore(pool, engine);
  if (cut > 0) await store.insert(toSamples(name, rows.slice(0, cut)));
  await foldRollups();
  if (cut < rows.length) await store.insert(toSamples(name, rows.slice(cut)));
  await foldRollups();
  return { name, rows };
}

const range = (h: History) => {
  const from = NOW - Math.max(h.fromAge, h.toAge);
  const tags: Record<string, string> = h.region ? { region: h.region } : {};
  return { from, to: Math.max(from, NOW - Math.min(h.fromAge, h.toAge)), tags };
};

describe('queryHistory', () => {
  const CASES: { tier: Tier; step?: number; answered: number }[] = [
    { tier: 'raw', answered: 0 },
    { tier: 'raw', step: 10_000, answered: 10_000 },
    { tier: 'raw', step: 45_000, answered: 45_000 },
    { tier: '1m', step: MIN, answered: MIN },
    { tier: '1m', step: 90_000, answered: 2 * MIN },
    { tier: '5m', step: 5 * MIN, answered: 5 * MIN },
    { tier: '5m', step: 15 * MIN, answered: 15 * MIN },
    { tier: '1h', step: HOUR, answered: HOUR },
    { tier: '1h', step: 3 * HOUR, answered: 3 * HOUR },
    { tier: '1d', step: DAY, answered: DAY },
  ];

  it('answers every tier and step as a direct computation over the raw rows, late rows included', { timeout: 240_000 }, async () => {
    const check = async (name: string, rows: Row[], h: History) => {
      for (const c of CASES) {
        const base = { name, ...range(h), step: c.step, maxPoints: 1_000_000, retention: onlyFrom(c.tier), now: NOW };
        const variants: Pick<HistoryQuery, 'agg' | 'groupBy'>[] = [
          ...(['avg', 'min', 'max', 'sum'] as const).map((agg) => ({ agg, groupBy: ['s'] })),
          {},
          { agg: 'sum' },
          { agg: 'avg', groupBy: ['region'] },
          { groupBy: ['region', 'missing'] },
        ];
        for (const v of variants) {
          const answer = await queryHistory(stores, { ...base, ...v });
          expect(answer.tier).toBe(c.tier);
          expect(answer.step).toBe(c.answered);
          expect(answer.truncated).toBe(false);
          expectMatches(answer, rows, { ...base, ...v });
        }
      }
    };
    await fc.assert(
      fc.asyncProperty(history, async (h) => {
        const { name, rows } = await load(h);
        await check(name, rows, h);
      }),
      { numRuns: 20 },
    );
  });

  it('stitches coarse tiers for the old part to finer ones for the recent part, with no gap and nothing twice', { timeout: 240_000 }, async () => {
    // Kept 3 h raw, 5 h 1m, 10 h 5m, longer 1h: with a fine step a 20 h range reads 1h, 5m, 1m and raw (those that
    // give the step); without one, the tier that covers from, throughout.
    const retention: Record<Tier, number> = { raw: 3 * HOUR, '1m': 5 * HOUR, '5m': 10 * HOUR, '1h': 10_000 * DAY, '1d': 10_000 * DAY };
    await fc.assert(
      // 5 min: the last stretch is 5m at its own bucket, with the 1m rows past the 5m watermark summed into it.
      fc.asyncProperty(history, fc.constantFrom(undefined, 20_000, MIN, 2 * MIN, 5 * MIN, 10 * MIN), fc.constantFrom<HistoryAgg | undefined>(undefined, 'sum', 'min', 'max'), async (h, step, agg) => {
        const { name, rows } = await load(h);
        const q = { name, ...range(h), step, agg, maxPoints: 1_000_000, retention, now: NOW };
        const answer = await queryHistory(stores, q);
        expectMatches(answer, rows, q);
        if (step !== undefined && q.to > NOW - 2 * HOUR && q.from < NOW - 11 * HOUR) expect(answer.segments.length).toBeGreaterThanOrEqual(2);
        if (step === undefined) expect(new Set(answer.segments.map((s) => s.step)).size).toBe(1);
        // Every stretch starts where its tier keeps data and is of a tier no finer than the one after it.
        for (const [i, seg] of answer.segments.entries()) {
          if (i > 0) expect(seg.start).toBeGreaterThanOrEqual(NOW - retention[seg.tier]);
          if (i > 0) expect(TIERS.indexOf(seg.tier)).toBeLessThan(TIERS.indexOf(answer.segments[i - 1]!.tier));
        }
        // Summed over the whole answer, each raw row of the covered range counts exactly once.
        const sums = await queryHistory(stores, { ...q, agg: 'sum' });
        const covered = rows.filter((r) => (!h.region || seriesTags(r.series).region === h.region) && r.ts >= sums.segments[0]!.start && r.ts < sums.segments.at(-1)!.end);
        const total = sums.series.flatMap((s) => s.points).reduce((n, p) => n + p[1], 0);
        expect(Math.abs(total - covered.reduce((n, r) => n + r.value, 0))).toBeLessThanOrEqual(1e-9 * covered.reduce((n, r) => n + Math.abs(r.value), 0));
      }),
      { numRuns: 25 },
    );
  });

  it('picks the tier for 1h, 2h, 1d, 7d and 90d ranges under the configured retention and a 1,000-point budget', async () => {
    // One series sampled every 5 s for the last 2 h: 720 raw points an hour.
    const samples: Sample[] = Array.from({ length: 1440 }, (_, i) => ({ name: 'choice', tags: { host: 'a' }, ts: NOW - i * 5000, value: i }));
    await new SampleStore(pool, engine).insert(samples);
    await foldRollups();
    const retention = tierRetentionMs(ns.config);
    expect(retention).toEqual({ raw: DAY, '1m': 2 * HOUR, '5m': DAY, '1h': 7 * DAY, '1d': 90 * DAY });
    const ask = (span: number, step?: number) => queryHistory(stores, { name: 'choice', tags: {}, from: NOW - span, to: NOW, step, maxPoints: 1000, retention, now: NOW });
    const plan = (a: HistoryAnswer) => a.segments.map((s) => `${s.tier}/${s.step / 1000}s`).join(' ');

    // 1h: 720 raw points fit.
    expect(plan(await ask(HOUR))).toBe('raw/0s');
    // 2h: 1,440 raw points do not; 1m keeps 2 h.
    expect(plan(await ask(2 * HOUR))).toBe('1m/60s');
    // 1d: raw does not fit; 5m is the finest tier covering a day, and without a step its 5 min hold throughout.
    expect(plan(await ask(DAY))).toBe('5m/300s');
    // 7d: 1h covers from; 90d: 1d covers from.
    expect(plan(await ask(7 * DAY))).toBe('1h/3600s');
    expect(plan(await ask(90 * DAY))).toBe('1d/86400s');
    // A step finer than the covering tier's bucket: each part from the finest tier that holds it, stitched.
    expect(plan(await ask(DAY, MIN))).toBe('5m/300s 1m/60s');
    expect(plan(await ask(7 * DAY, MIN))).toBe('1h/3600s 5m/300s 1m/60s');
    expect(plan(await ask(90 * DAY, MIN))).toBe('1d/86400s 1h/3600s 5m/300s 1m/60s');
    // A step: never finer than the tier's bucket; equal steps of neighbouring tiers read the coarser one.
    expect(plan(await ask(HOUR, 30_000))).toBe('raw/30s');
    expect(plan(await ask(2 * HOUR, 5 * MIN))).toBe('1m/300s');
    expect(plan(await ask(DAY, HOUR))).toBe('5m/3600s');
    expect(plan(await ask(7 * DAY, HOUR))).toBe('1h/3600s');
    // A raw stretch binned into a step counts its samples too, since every one of them is read: over 25 h at 30 s
    // the plan's buckets fit 3,000 points, but not with the 1,440 samples beside them.
    const wide = await queryHistory(stores, { name: 'choice', tags: {}, from: NOW - 25 * HOUR, to: NOW, step: 30_000, maxPoints: 3000, retention, now: NOW });
    expect(plan(wide)).not.toContain('raw');
    expect(plan(await queryHistory(stores, { name: 'choice', tags: {}, from: NOW - 25 * HOUR, to: NOW, step: 30_000, maxPoints: 5000, retention, now: NOW }))).toContain('raw/30s');
    // Where even 1d exceeds the budget (two series, one point), 1d answers, cut.
    await new SampleStore(pool, engine).insert(['a', 'b'].map((host) => ({ name: 'cut', tags: { host }, ts: NOW, value: 1 })));
    await foldRollups();
    const cut = await queryHistory(stores, { name: 'cut', tags: {}, from: NOW - 2 * HOUR, to: NOW, maxPoints: 1, retention, now: NOW });
    expect(cut.tier).toBe('1d');
    expect(cut.truncated).toBe(true);
    expect(cut.series.flatMap((s) => s.points)).toHaveLength(1);
    // The numbers of a stitched answer: every sample counted once.
    const day = await queryHistory(stores, { name: 'choice', tags: {}, from: NOW - DAY, to: NOW, agg: 'sum', maxPoints: 1000, retention, now: NOW });
    expect(day.series[0]!.points.reduce((n, p) => n + p[1], 0)).toBe((1439 * 1440) / 2);
  });

  it('reads nothing it then throws away when the finer plans do not fit: no raw count, no hourly rows', async () => {
    const retention = tierRetentionMs(ns.config);
    // One series every 5 s for the last 2 h; two series with one sample each.
    await new SampleStore(pool, engine).insert([
      ...Array.from({ length: 1440 }, (_, i): Sample => ({ name: 'dense', tags: { host: 'a' }, ts: NOW - i * 5000, value: i })),
      ...['a', 'b'].map((host): Sample => ({ name: 'pair', tags: { host }, ts: NOW - HOUR, value: 1 })),
    ]);
    await foldRollups();
    const counts: string[] = [];
    const stretchRows: unknown[] = [];
    const spied = {
      pool: new Proxy(pool, {
        get: (target, key) =>
          key === 'query'
            ? async (statement: { name?: string }, ...rest: unknown[]) => {
                const result = await (target.query as (...a: unknown[]) => Promise<{ rows: { ts: unknown }[] }>)(statement, ...rest);
                if (statement?.name?.startsWith('history-stretch-')) stretchRows.push(...result.rows.map((r) => r.ts));
                return result;
              }
            : Reflect.get(target, key),
      }),
      engine: Object.assign(Object.create(engine) as VictoriaMetrics, { query: (expr: string, at: number) => (counts.push(expr), engine.query(expr, at)) }),
    };
    // 2 h: 1,440 raw samples do not fit 1,000 points; the export that found so says as much as a count.
    const twoHours = await queryHistory(spied, { name: 'dense', tags: {}, from: NOW - 2 * HOUR, to: NOW, maxPoints: 1000, retention, now: NOW });
    expect(twoHours.tier).toBe('1m');
    expect(counts).toEqual([]);
    // 7 d of both series: 168 hourly buckets each do not fit 200 points, so the hourly stretch reads no rows.
    stretchRows.length = 0;
    const week = await queryHistory(spied, { name: 'pair', tags: {}, from: NOW - 7 * DAY, to: NOW, maxPoints: 200, retention, now: NOW });
    expect(week.tier).toBe('1d');
    expect(week.series).toHaveLength(2);
    expect(stretchRows.length).toBeGreaterThan(0);
    expect(stretchRows.every((ts) => ts === null)).toBe(true);
  });

  it('counts a late sample (older than computed rollups) once the next run has computed its minute again, and a rewrite never', async () => {
    const store = new SampleStore(pool, engine);
    const t = Math.floor(NOW / HOUR) * HOUR - HOUR;
    await store.insert([{ name: 'late', tags: {}, ts: t + 30 * MIN, value: 10 }]);
    await foldRollups();
    expect((await store.write([{ id: 'late', samples: [{ name: 'late', tags: {}, ts: t + 5 * MIN, value: 2 }] }])).lateMinutes).toBe(1);
    await foldRollups();
    // The same samples written again (a redelivery) change nothing.
    await store.insert([{ name: 'late', tags: {}, ts: t + 5 * MIN, value: 2 }, { name: 'late', tags: {}, ts: t + 30 * MIN, value: 10 }]);
    await foldRollups();
    for (const tier of ['1m', '5m', '1h', '1d'] as const) {
      const answer = await queryHistory(stores, { name: 'late', tags: {}, from: t, to: t + HOUR - 1, step: HOUR, agg: 'sum', maxPoints: 100, retention: onlyFrom(tier), now: NOW });
      const [point] = answer.series[0]!.points;
      expect(point![1], tier).toBe(12);
      expect(point!.slice(2)).toEqual([2, 10]);
    }
    const { rows } = await pool.query("SELECT count::int FROM rollup_1h r JOIN series s ON s.id = r.series_id WHERE s.name = 'late'");
    expect(rows).toEqual([{ count: 2 }]);
  });

  it('reads each sample once when the watermarks moved back after a read (a restore), and series only the engine holds yet', async () => {
    const name = 'moved_back';
    const start = Math.floor(NOW / HOUR) * HOUR - 3 * HOUR;
    const rows: Row[] = Array.from({ length: 180 }, (_, i) => ({ series: i % 2, ts: start + i * MIN + 7_000, value: i }));
    await new SampleStore(pool, engine).insert(toSamples(name, rows));
    await foldRollups();
    // Written after the fold, past the minute it computed up to: the engine holds this series, PostgreSQL not yet.
    const at = Math.floor(Date.now() / MIN) * MIN + 1;
    const fresh: Row[] = [{ series: 2, ts: at, value: 5 }];
    await new SampleStore(pool, engine).insert(toSamples(name, fresh));
    const q = { name, tags: {}, from: start, to: at, step: 5 * MIN, maxPoints: 10_000, retention: onlyFrom('5m'), now: at };
    expectMatches(await queryHistory(stores, q), [...rows, ...fresh], q);
    await pool.query(`UPDATE rollup_watermarks SET until = until - interval '2 hours'`);
    expectMatches(await queryHistory(stores, q), [...rows, ...fresh], q);
  });

  it('reads the minutes the 1m watermark passed but a fold run has not computed yet from the engine', async () => {
    const name = 'passed';
    const start = Math.floor(NOW / HOUR) * HOUR - 2 * HOUR;
    const rows: Row[] = Array.from({ length: 60 }, (_, i) => ({ series: i % 2, ts: start + i * 30_000 + 5_000, value: i }));
    await new SampleStore(pool, engine).insert(toSamples(name, rows));
    await foldRollups();
    // As a run over a large fleet leaves it while it computes: the 1m watermark moved past minutes 20–29, marked
    // for every metric, no rows yet; the coarser tiers stop where the stored minutes end.
    const cut = start + 20 * MIN;
    await pool.query("DELETE FROM rollup_1m WHERE bucket >= $1", [new Date(cut)]);
    await pool.query("UPDATE rollup_watermarks SET until = LEAST(until, $1) WHERE tier <> '1m'", [new Date(cut)]);
    await markPassed(pool, Array.from({ length: 10 }, (_, i) => cut + i * MIN));
    const to = start + 30 * MIN - 1;
    for (const q of [
      // One stretch of 1m rows, then the engine.
      { name, tags: {}, from: start, to, step: MIN, maxPoints: 10_000, retention: onlyFrom('1m'), now: NOW },
      // 5m rows for the old part, 1m rows and the engine after it: two stretches.
      { name, tags: {}, from: start, to, step: MIN, maxPoints: 10_000, retention: { ...onlyFrom('1m'), '1m': NOW - start - 10 * MIN }, now: NOW },
    ]) {
      const answer = await queryHistory(stores, q);
      expectMatches(answer, rows, q);
      expect(answer.series[0]!.points.at(-1)![0]).toBe(start + 29 * MIN);
    }
  });

  it('refuses a read whose minutes past the 1m watermark hold more raw samples than one export may (rollups hours behind)', async () => {
    const name = 'behind';
    const start = Math.floor(NOW / HOUR) * HOUR - 2 * HOUR;
    const rows: Row[] = Array.from({ length: 60 }, (_, i) => ({ series: i % 3, ts: start + i * 60_000 + 5_000, value: i }));
    await new SampleStore(pool, engine).insert(toSamples(name, rows));
    // The rollups stopped before these hours: every minute is past the watermarks and read raw, whatever tier answers.
    await pool.query('UPDATE rollup_watermarks SET until = LEAST(until, $1)', [new Date(start)]);
    for (const q of [
      { name, tags: {}, from: start, to: start + HOUR - 1, step: MIN, maxPoints: 10_000, retention: onlyFrom('1m'), now: NOW },
      { name, tags: {}, from: start, to: start + HOUR - 1, step: 5 * MIN, maxPoints: 10_000, retention: onlyFrom('5m'), now: NOW, agg: 'sum' as const },
    ]) {
      await expect(queryHistory(stores, { ...q, maxRawSamples: 59 })).rejects.toThrow(RawSamplesTooMany);
      expectMatches(await queryHistory(stores, { ...q, maxRawSamples: 60 }), rows, q);
    }
  });

  it('counts the raw samples of all of a read’s exports against one bound, not each export against its own', async () => {
    const name = 'behind-stitched';
    const start = Math.floor(NOW / HOUR) * HOUR - 2 * HOUR;
    const rows: Row[] = Array.from({ length: 60 }, (_, i) => ({ series: i % 3, ts: start + i * 60_000 + 5_000, value: i }));
    await new SampleStore(pool, engine).insert(toSamples(name, rows));
    // The series known from a rollup run (the retention here keeps no raw data to find them by), then every
    // watermark moved back before the samples: the rows are not read, the minutes past the watermarks are, raw.
    await foldRollups();
    await pool.query('UPDATE rollup_watermarks SET until = LEAST(until, $1)', [new Date(start)]);
    // Two stretches (5m rows for the first half hour, 1m rows after it), each read raw past the watermarks: 30 samples each.
    const q = { name, tags: {}, from: start, to: start + HOUR - 1, step: MIN, maxPoints: 10_000, retention: { ...onlyFrom('1m'), '1m': NOW - start - 30 * MIN }, now: NOW };
    expect(planSegments('1m', q, q.now).map((s) => s.tier)).toEqual(['5m', '1m']);
    await expect(queryHistory(stores, { ...q, maxRawSamples: 45 })).rejects.toThrow(RawSamplesTooMany);
    expectMatches(await queryHistory(stores, { ...q, maxRawSamples: 60 }), rows, q);
  });

  it('stops an export of the engine where it is when the read’s budget ends it', async () => {
    const name = 'stopped';
    const start = Math.floor(NOW / HOUR) * HOUR - 2 * HOUR;
    await new SampleStore(pool, engine).insert(toSamples(name, Array.from({ length: 300 }, (_, i) => ({ series: i % 100, ts: start + i * 1_000, value: i }))));
    const budget = new RawBudget(10);
    const seen: number[] = [];
    const reading = (async () => {
      for await (const s of engine.export(`{__name__="${name}"}`, start, start + HOUR, budget.signal)) {
        seen.push(s.timestamps.length);
        // A sibling export passing the budget, after this one's first series.
        if (seen.length === 1) expect(() => budget.take(11)).toThrow(RawSamplesTooMany);
      }
    })();
    await expect(reading).rejects.toThrow();
    expect(budget.signal.reason).toBeInstanceOf(RawSamplesTooMany);
    // Ended before its second series, though the engine had sent every one already.
    expect(seen).toHaveLength(1);
  });

  it('sums finer tiers\' rows past a tier\'s watermark into its buckets, in one stretch and in stitched ones', async () => {
    const name = 'behind';
    const start = Math.floor(NOW / HOUR) * HOUR - 4 * HOUR;
    const rows: Row[] = Array.from({ length: 480 }, (_, i) => ({ series: i % 2, ts: start + i * 30_000 + 5_000, value: (i * 7919) % 1000 }));
    await new SampleStore(pool, engine).insert(toSamples(name, rows));
    await foldRollups();
    // As a run that has not caught up leaves them: 1h rows for the first hour, 5m rows up to 2.5 h, 1m rows after.
    await pool.query("UPDATE rollup_watermarks SET until = $1 WHERE tier IN ('1h', '1d')", [new Date(start + HOUR)]);
    await pool.query("UPDATE rollup_watermarks SET until = $1 WHERE tier = '5m'", [new Date(start + 150 * MIN)]);
    const to = start + 4 * HOUR - 1;
    for (const q of [
      // One stretch of 1h: 5m and 1m rows summed into hours.
      { name, tags: {}, from: start, to, maxPoints: 10_000, retention: onlyFrom('1h'), now: NOW },
      // 1h for the first two hours (5m rows summed into the second), then 5m (1m rows summed into 5 minutes).
      { name, tags: {}, from: start, to, step: 5 * MIN, maxPoints: 10_000, retention: { ...onlyFrom('1h'), '5m': NOW - start - 2 * HOUR }, now: NOW },
    ]) {
      const answer = await queryHistory(stores, q);
      expectMatches(answer, rows, q);
      expect(answer.series).toHaveLength(2);
    }
  });

  it('cuts raw samples exactly at from and to', async () => {
    const minute = Math.floor(NOW / MIN) * MIN - 10 * MIN;
    await new SampleStore(pool, engine).insert(['a', 'b'].flatMap((host) => [0, 10, 20, 30, 40, 50].map((s) => ({ name: 'cut_raw', tags: { host }, ts: minute + s * 1000, value: s }))));
    const ask = (agg?: HistoryAgg) => queryHistory(stores, { name: 'cut_raw', tags: {}, from: minute + 15_000, to: minute + 30_000, agg, maxPoints: 100, retention: onlyFrom('raw'), now: NOW });
    const alone = await ask();
    expect(alone.series.map((x) => x.points)).toEqual([
      [[minute + 20_000, 20], [minute + 30_000, 30]],
      [[minute + 20_000, 20], [minute + 30_000, 30]],
    ]);
    expect((await ask('sum')).series.map((x) => x.points)).toEqual([[[minute + 20_000, 40], [minute + 30_000, 60]]]);
  });

  it('answers nothing for an unknown metric, and rejects a range that runs backwards', async () => {
    const retention = onlyFrom('raw');
    expect(await queryHistory(stores, { name: 'nothing', tags: {}, from: NOW - HOUR, to: NOW, maxPoints: 10, retention, now: NOW })).toMatchObject({ tier: 'raw', series: [], truncated: false });
    await expect(queryHistory(stores, { name: 'nothing', tags: {}, from: NOW, to: NOW - 1, maxPoints: 10, retention })).rejects.toThrow(RangeError);
  });
});

describe('planSegments', () => {
  it('reads a range as long as a tier keeps from that tier, though the client\'s clock ran a little behind', () => {
    const day = 86_400_000;
    const retention: Record<Tier, number> = { raw: day, '1m': 2 * 3_600_000, '5m': day, '1h': 7 * day, '1d': 90 * day };
    const now = Date.UTC(2026, 11, 7, 12);
    // "Last 24 hours" from a browser whose clock is 50 ms behind the gateway's: the 5m tier, not an hourly first stretch.
    expect(planSegments('5m', { from: now - day, to: now, step: 300_000, retention }, now + 50).map((s) => s.tier)).toEqual(['5m']);
    expect(planSegments('1h', { from: now - 7 * day, to: now, step: 3_600_000, retention }, now + 50).map((s) => s.tier)).toEqual(['1h']);
    // Past the grace it is the coarser tier's, as before.
    expect(planSegments('5m', { from: now - day - 120_000, to: now, step: 300_000, retention }, now).map((s) => s.tier)[0]).toBe('1h');
  });

  it('reads the first bucket from a tier that still holds all of it, when the step is wider than the tier’s partitions', () => {
    const day = 86_400_000;
    const retention: Record<Tier, number> = { raw: day, '1m': 2 * 3_600_000, '5m': day, '1h': 7 * day, '1d': 90 * day };
    const now = Date.UTC(2026, 11, 7, 13, 30);
    // The last 2 hours at a 2 h step: the bucket [10:00, 12:00) starts where retention dropped the 1m rows (before 11:29).
    const twoHours = planSegments('1m', { from: now - 2 * 3_600_000, to: now, step: 2 * 3_600_000, retention }, now);
    expect(twoHours[0]).toMatchObject({ tier: '5m', start: Date.UTC(2026, 11, 7, 10) });
    // Within a tier's retention at a step it holds whole, that tier still answers.
    expect(planSegments('1m', { from: now - 3_600_000, to: now, step: 3_600_000, retention }, now)[0]).toMatchObject({ tier: '1m', start: Date.UTC(2026, 11, 7, 12) });
  });
});

describe('RawBudget', () => {
  it('ends every export of a read when one passes the bound, or when any other part of the read fails, and keeps the first reason', () => {
    const budget = new RawBudget(10);
    budget.take(6);
    budget.take(4);
    expect(budget.signal.aborted).toBe(false);
    expect(() => budget.take(1)).toThrow(RawSamplesTooMany);
    expect(budget.signal.reason).toBeInstanceOf(RawSamplesTooMany);
    // The siblings' own failures (their aborts) come after: the read still fails for the bound.
    expect(() => budget.fail(new Error('aborted'))).toThrow(RawSamplesTooMany);
    const failed = new RawBudget(10);
    expect(() => failed.fail(new Error('the statement failed'))).toThrow('the statement failed');
    expect(failed.signal.aborted).toBe(true);
  });
});
