/**
 * Benchmark of history queries: `queryHistory` called in-process (no HTTP) on a fresh test namespace holding
 * 10,000 series of `bench_query` (tags `id` 0…9999 and `shard` = id mod 100) with 7 days of history, written
 * straight with SQL generate_series: rollup_1h and rollup_1d over 7 days, rollup_5m over the last 24 h,
 * rollup_1m over the last 2 h, raw samples (one per series and minute) over the last hour, and the newest
 * minute's samples waiting in rollup_pending beside 650,000 more rows over the last 5 s (what a 5 s fold
 * interval leaves there at 130,000 samples/s). The values are synthetic; the bench times reads, not sums.
 *
 *   pnpm bench:query
 *
 * Times 200 runs (after 3 warm-ups) of each range 1h, 1d, 7d, 90d ending now, for one series (tag.id=7) and for
 * 100 series (tag.shard=7), with the gateway's point budget (100,000) and the configured retention, except raw,
 * which is given as the hour it holds here. Prints a table with the tiers read, then as the last line one JSON
 * object for scripts to pick up.
 */
import type pg from 'pg';
import { createPool, migrate } from '@terminusa/database';
import { PartitionManager, queryHistory, seriesKey, tierRetentionMs, TIER_BUCKET_MS, type HistoryAnswer, type Tier } from '@terminusa/metric-store';
import { createTestNamespace, type TestNamespace } from '@terminusa/testkit';

const NAME = 'bench_query';
const SERIES = 10_000;
const SHARDS = 100;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** The gateway's budget (MAX_HISTORY_POINTS in services/api-gateway/src/main.ts). */
const MAX_POINTS = 100_000;
// Enough runs that p99 is not simply the slowest one (of 50 it would be).
const RUNS = 200;
const WARMUP = 3;
const RANGES = [
  { label: '1h', ms: HOUR_MS },
  { label: '1d', ms: DAY_MS },
  { label: '7d', ms: 7 * DAY_MS },
  { label: '90d', ms: 90 * DAY_MS },
] as const;
const SELECTIONS = [
  { series: 1, tags: { id: '7' } },
  { series: 100, tags: { shard: '7' } },
] as const;

/** How far back each rollup tier is loaded. */
const LOADED: Record<Exclude<Tier, 'raw'>, number> = { '1m': 2 * HOUR_MS, '5m': DAY_MS, '1h': 7 * DAY_MS, '1d': 7 * DAY_MS };

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const round2 = (n: number) => Math.round(n * 100) / 100;
const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function loadSeries(pool: pg.Pool): Promise<void> {
  const ids = Array.from({ length: SERIES }, (_, i) => i);
  const tags = ids.map((i) => ({ id: String(i), shard: String(i % SHARDS) }));
  await pool.query('INSERT INTO series (key, name, tags) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])', [
    tags.map((t) => seriesKey(NAME, t)),
    ids.map(() => NAME),
    tags.map((t) => JSON.stringify(t)),
  ]);
}

/** One tier's rows for every series and bucket from `from` to `to` (bucket starts), one sample a minute. */
async function loadRollup(pool: pg.Pool, tier: Exclude<Tier, 'raw'>, from: number, to: number): Promise<number> {
  const width = TIER_BUCKET_MS[tier];
  const perBucket = width / MINUTE_MS;
  const { rowCount } = await pool.query(
    `INSERT INTO rollup_${tier} (series_id, bucket, count, sum, min, max, last, last_ts)
     SELECT s.id, b, $4::bigint, $4 * v, v - 5, v + 5, v, b + $3::interval - interval '1 minute'
       FROM series s
      CROSS JOIN generate_series($1::timestamptz, $2::timestamptz, $3::interval) AS b
      CROSS JOIN LATERAL (SELECT 50 + 10 * sin(extract(epoch FROM b) / 3600 + s.id)) AS x(v)`,
    [new Date(from), new Date(to), `${width} milliseconds`, perBucket],
  );
  return rowCount ?? 0;
}

/** Samples waiting for the fold, as while ingesting: 5 s (the fold interval) at 130,000 samples/s, one row each. */
const PENDING_ROWS = 650_000;

/**
 * Raw samples of every series, one a minute from `from` to `to`; the newest minute's also wait in rollup_pending,
 * beside a fold interval's worth of ingest over the last 5 s.
 */
async function loadRaw(pool: pg.Pool, from: number, to: number): Promise<number> {
  const select = `SELECT s.id, t, 50 + 10 * sin(extract(epoch FROM t) / 3600 + s.id) FROM series s CROSS JOIN generate_series($1::timestamptz, $2::timestamptz, interval '1 minute') AS t`;
  // One sample a minute: each is a block of one, as the storage writes it.
  const { rowCount } = await pool.query(`INSERT INTO sample_blocks (series_id, ts_min, ts_max, ts, value) SELECT id, t, t, ARRAY[t], ARRAY[v] FROM (${select}) x(id, t, v)`, [new Date(from), new Date(to)]);
  await pool.query(`INSERT INTO rollup_pending (series_id, ts, value) ${select}`, [new Date(to), new Date(to)]);
  await pool.query(
    `INSERT INTO rollup_pending (series_id, ts, value)
     SELECT (SELECT min(id) FROM series) + g % ${SERIES}, $1::timestamptz - (g % 5000) * interval '1 millisecond', 1 FROM generate_series(1, ${PENDING_ROWS}) g`,
    [new Date(to)],
  );
  return rowCount ?? 0;
}

async function load(pool: pg.Pool, now: number): Promise<void> {
  const partitions = new PartitionManager(pool);
  let t = performance.now();
  await loadSeries(pool);
  console.log(`loaded ${SERIES.toLocaleString('en')} series in ${fmt((performance.now() - t) / 1000, 2)} s`);
  for (const tier of Object.keys(LOADED) as (keyof typeof LOADED)[]) {
    const width = TIER_BUCKET_MS[tier];
    const to = Math.floor(now / width) * width;
    const from = Math.floor((now - LOADED[tier]) / width) * width;
    await partitions.ensure(tier, from, to);
    t = performance.now();
    const rows = await loadRollup(pool, tier, from, to);
    console.log(`loaded ${rows.toLocaleString('en')} rows of rollup_${tier} in ${fmt((performance.now() - t) / 1000, 2)} s`);
  }
  const to = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  const from = to - HOUR_MS + MINUTE_MS;
  await partitions.ensure('raw', from, to);
  t = performance.now();
  const rows = await loadRaw(pool, from, to);
  console.log(`loaded ${rows.toLocaleString('en')} raw samples in ${fmt((performance.now() - t) / 1000, 2)} s`);
  // Autovacuum would gather statistics soon after a bulk load like this; the bench does not wait for it.
  t = performance.now();
  await pool.query('VACUUM ANALYZE');
  console.log(`vacuum analyze in ${fmt((performance.now() - t) / 1000, 2)} s`);
  await pool.query('ANALYZE series, samples, rollup_pending, rollup_1m, rollup_5m, rollup_1h, rollup_1d');
}

interface Case {
  range: string;
  series: number;
  tier: Tier;
  plan: string;
  points: number;
  p50_ms: number;
  p99_ms: number;
}

async function measure(pool: pg.Pool, retention: Record<Tier, number>, now: number): Promise<Case[]> {
  const cases: Case[] = [];
  for (const range of RANGES) {
    for (const selection of SELECTIONS) {
      const ask = () => queryHistory(pool, { name: NAME, tags: selection.tags, from: now - range.ms, to: now, maxPoints: MAX_POINTS, retention, now });
      let answer: HistoryAnswer = await ask();
      if (answer.series.length !== selection.series) throw new Error(`${range.label}: ${answer.series.length} series answered, expected ${selection.series}`);
      for (let i = 1; i < WARMUP; i++) await ask();
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const started = performance.now();
        answer = await ask();
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      cases.push({
        range: range.label,
        series: selection.series,
        tier: answer.tier,
        plan: answer.segments.map((s) => s.tier).join('+'),
        points: answer.series.reduce((n, s) => n + s.points.length, 0),
        p50_ms: round2(percentile(times, 50)),
        p99_ms: round2(percentile(times, 99)),
      });
    }
  }
  return cases;
}

let ns: TestNamespace | undefined;
let pool: pg.Pool | undefined;
try {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'query-bench');
  await migrate(pool, ns.config.database.schema);
  const now = Date.now();
  await load(pool, now);
  // Raw samples were loaded for the last hour only, so the planner is told raw keeps an hour.
  const retention = { ...tierRetentionMs(ns.config), raw: HOUR_MS };
  const cases = await measure(pool, retention, now);
  console.log('\nrange  series  tier  read from               points  p50 ms  p99 ms');
  for (const c of cases) {
    console.log(`${c.range.padEnd(6)} ${String(c.series).padStart(6)}  ${c.tier.padEnd(4)}  ${c.plan.padEnd(22)} ${String(c.points).padStart(6)}  ${fmt(c.p50_ms).padStart(6)}  ${fmt(c.p99_ms).padStart(6)}`);
  }
  console.log(
    JSON.stringify({
      bench: 'query',
      p99_ms_max: Math.max(...cases.map((c) => c.p99_ms)),
      cases: cases.map(({ range, series, tier, p50_ms, p99_ms }) => ({ range, series, tier, p50_ms, p99_ms })),
    }),
  );
} finally {
  await pool?.end();
  await ns?.cleanup();
}
