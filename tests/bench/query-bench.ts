/**
 * Benchmark of history reads through the gateway's HTTP API, beside the engine's own query API for the same data
 * and range, in one run, on a fresh test namespace (the gateway started as a process; PostgreSQL, Redis and NATS
 * are the real servers, VictoriaMetrics a process of the bench's own started fresh, for the gateway and for the
 * bench alike; the namespace's series carry its `tmon_ns` label).
 *
 * Data: 10,000 series of `bench_query` (tags `id` 0…9999 and `shard` = id mod 100).
 * - Raw samples, one per series and minute over the last 24 h (the raw retention) plus the current minute,
 *   imported into VictoriaMetrics through its JSON-lines import API (`/api/v1/import`, the namespace as
 *   extra_label), as the storage writes them.
 * - Rollup rows written with SQL generate_series, each tier up to its watermark (rollup_watermarks, set to the
 *   start of the current bucket, as the rollup job leaves them): rollup_1m over the last 2 h, rollup_5m over 24 h,
 *   rollup_1h over 7 days, rollup_1d over 90 days. Values are synthetic; the bench times reads, not sums.
 *
 *   pnpm bench:query
 *   BENCH_QUERY_RUNS=100 pnpm bench:query
 *
 * Cases: ranges 1h, 24h, 7d, 90d ending now, for one series (tag.id=…) and for 100 series (tag.shard=…), each
 * request asking for a different series or group (ids spread over the 10,000; the 100 groups in turn), paced under
 * the gateway's shipped per-principal rate limit (100/s) so no request is refused. Each is timed over HTTP as a client
 * sees it (GET /metrics/history, admin token, JSON parsed), and beside each the same selection, range and step
 * (the gateway's answer's step; 1 min where it answered raw points) as VictoriaMetrics' own
 * `/api/v1/query_range` of `avg_over_time(selector[step])` (nocache=1, the same extra_label), also over HTTP: the
 * two sides take turns request by request, so both meet the same machine.
 * The engine alone must answer the 7d and 90d reads from samples over the whole range, as many points as the
 * gateway answers from rollup rows: besides the raw day it holds one sample an hour per series back to 91 days
 * (the suite's engine keeps only the raw day; the gateway never reads those older samples).
 *
 * Two passes of the same cases: idle (nothing else running), then under a live fleet of BENCH_QUERY_FLEET series
 * (default 1,000,000, as bench:ingest's: 100 names, one sample each every 15 s, 100-series JSON messages published
 * on JetStream) ingested by a processor, storage and alert-manager started for it into the same engine. Under the
 * fleet both sides read from an engine that is being written, on a machine the fleet keeps busy (on 2 cores the
 * suite does not keep up with a million series, bench:ingest: what it measures there is reads on a saturated
 * machine). BENCH_QUERY_FLEET=0 skips the second pass.
 *
 *   BENCH_QUERY_FLEET=100000 pnpm bench:query
 *
 * Prints a table per pass with the tiers read, then as the last line one JSON object for scripts to pick up
 * (`fleet_*` for the second pass).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'nats';
import type pg from 'pg';
import { createPool } from '@terminusa/database';
import { NAMESPACE_LABEL, PartitionManager, TIER_BUCKET_MS, VictoriaMetrics, selector, seriesKey, type RollupTier } from '@terminusa/metric-store';
import { startEngineProcess, quantile, startSuite, waitFor, type EngineProcess, type RunningSuite } from '@terminusa/testkit';
import { LIVE_FLEET, LiveFleet, SAMPLES_PER_MESSAGE, publishPhase } from './ingest-load.ts';

const NAME = 'bench_query';
const SERIES = 10_000;
const SHARDS = 100;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 200);
/** Series of the live fleet the second pass reads under (every 15 s, as bench:ingest's); 0 skips that pass. */
const FLEET_SERIES = Number(process.env.BENCH_QUERY_FLEET ?? 1_000_000);
/** What the fleet is ingested through. */
const FLEET_SERVICES = ['processor', 'storage', 'alert-manager'] as const;
if (!Number.isInteger(FLEET_SERIES) || FLEET_SERIES < 0 || FLEET_SERIES % (LIVE_FLEET.names * SAMPLES_PER_MESSAGE) !== 0) {
  throw new Error(`BENCH_QUERY_FLEET must be 0 or a multiple of ${LIVE_FLEET.names * SAMPLES_PER_MESSAGE}, got ${process.env.BENCH_QUERY_FLEET}`);
}
const WARMUP = 3;
/** The gateway's shipped rate limit is 100 requests per second per principal: requests start at most this often. */
const MIN_GAP_MS = 12;
const RANGES = [
  { label: '1h', ms: HOUR_MS },
  { label: '24h', ms: DAY_MS },
  { label: '7d', ms: 7 * DAY_MS },
  { label: '90d', ms: 90 * DAY_MS },
] as const;
/** The n-th request's tag filter: single series spread over all ids, groups in turn. */
const SELECTIONS = [
  { series: 1, tags: (n: number): Record<string, string> => ({ id: String((n * 4_999) % SERIES) }) },
  { series: 100, tags: (n: number): Record<string, string> => ({ shard: String(n % SHARDS) }) },
] as const;

/**
 * How far back the engine alone holds samples, so that its 7 d and 90 d reads answer as many points as the
 * gateway's (one a minute in the raw day, one an hour before it: fewer than a fleet's, so its work is a lower bound).
 */
const ENGINE_HISTORY_MS = 91 * DAY_MS;
/** How far back each rollup tier is loaded (up to its watermark). */
const LOADED: Record<RollupTier, number> = { '1m': 2 * HOUR_MS, '5m': DAY_MS, '1h': 7 * DAY_MS, '1d': 90 * DAY_MS };

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const round2 = (n: number) => Math.round(n * 100) / 100;

async function loadSeries(pool: pg.Pool): Promise<void> {
  const ids = Array.from({ length: SERIES }, (_, i) => i);
  const tags = ids.map((i) => ({ id: String(i), shard: String(i % SHARDS) }));
  await pool.query('INSERT INTO series (key, name, tags) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])', [
    tags.map((t) => seriesKey(NAME, t)),
    ids.map(() => NAME),
    tags.map((t) => JSON.stringify(t)),
  ]);
}

/** One tier's rows for every series and bucket start in [from, to), as if from one sample a minute. */
async function loadRollup(pool: pg.Pool, tier: RollupTier, from: number, to: number): Promise<number> {
  const width = TIER_BUCKET_MS[tier];
  const { rowCount } = await pool.query(
    `INSERT INTO rollup_${tier} (series_id, bucket, count, sum, min, max, last, last_ts)
     SELECT s.id, b, $4::bigint, $4 * v, v - 5, v + 5, v, b + $3::interval - interval '1 minute'
       FROM series s
      CROSS JOIN generate_series($1::timestamptz, $2::timestamptz - $3::interval, $3::interval) AS b
      CROSS JOIN LATERAL (SELECT 50 + 10 * sin(extract(epoch FROM b) / 3600 + s.id)) AS x(v)`,
    [new Date(from), new Date(to), `${width} milliseconds`, width / MINUTE_MS],
  );
  return rowCount ?? 0;
}

/** Raw samples of every series, one every `stepMs` in [from, to], through the engine's import API, 4 requests in flight. */
async function loadRaw(engine: VictoriaMetrics, from: number, to: number, stepMs: number): Promise<number> {
  const ts: number[] = [];
  for (let t = from; t <= to; t += stepMs) ts.push(t);
  const tsText = ts.join(',');
  const perRequest = 100;
  let next = 0;
  const worker = async () => {
    while (next < SERIES) {
      const first = next;
      next += perRequest;
      let body = '';
      for (let i = first; i < Math.min(SERIES, first + perRequest); i++) {
        const values = ts.map((t) => Math.round((50 + 10 * Math.sin(t / HOUR_MS + i)) * 100) / 100);
        body += `{"metric":{"__name__":"${NAME}","id":"${i}","shard":"${i % SHARDS}"},"values":[${values.join(',')}],"timestamps":[${tsText}]}\n`;
      }
      await engine.import(body);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  await engine.sync();
  return SERIES * ts.length;
}

async function load(pool: pg.Pool, engine: VictoriaMetrics, now: number): Promise<void> {
  const partitions = new PartitionManager(pool);
  let t = performance.now();
  await loadSeries(pool);
  console.log(`loaded ${SERIES.toLocaleString('en')} series in ${fmt((performance.now() - t) / 1000, 2)} s`);
  for (const tier of Object.keys(LOADED) as RollupTier[]) {
    const width = TIER_BUCKET_MS[tier];
    const to = Math.floor(now / width) * width;
    const from = Math.floor((now - LOADED[tier]) / width) * width;
    await partitions.ensure(tier, from, to);
    t = performance.now();
    const rows = await loadRollup(pool, tier, from, to);
    await pool.query('UPDATE rollup_watermarks SET until = $2 WHERE tier = $1', [tier, new Date(to)]);
    console.log(`loaded ${rows.toLocaleString('en')} rows of rollup_${tier} in ${fmt((performance.now() - t) / 1000, 2)} s (watermark ${new Date(to).toISOString()})`);
  }
  const to = Math.floor(now / MINUTE_MS) * MINUTE_MS;
  t = performance.now();
  const samples = await loadRaw(engine, to - DAY_MS, to, MINUTE_MS);
  console.log(`imported ${samples.toLocaleString('en')} raw samples into VictoriaMetrics in ${fmt((performance.now() - t) / 1000, 2)} s`);
  t = performance.now();
  const older = await loadRaw(engine, to - ENGINE_HISTORY_MS, to - DAY_MS - HOUR_MS, HOUR_MS);
  console.log(`imported ${older.toLocaleString('en')} hourly samples before the raw day into VictoriaMetrics in ${fmt((performance.now() - t) / 1000, 2)} s`);
  t = performance.now();
  await pool.query('VACUUM ANALYZE');
  console.log(`vacuum analyze in ${fmt((performance.now() - t) / 1000, 2)} s`);
}

/**
 * Waits until the engine merges nothing for a second: merging a fresh import's parts takes a core for a while,
 * which would slow both sides of the measurement (the engine's more, it merges in its own process).
 */
async function engineSettled(engineUrl: string): Promise<void> {
  const merging = async () => {
    const text = await (await fetch(`${engineUrl.replace(/\/+$/, '')}/metrics`)).text();
    return [...text.matchAll(/^vm_(?:active_merges|pending_rows)\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
  let quietSince: number | undefined;
  const deadline = Date.now() + 10 * MINUTE_MS;
  while (Date.now() < deadline) {
    if ((await merging()) > 0) quietSince = undefined;
    else if ((quietSince ??= Date.now()) <= Date.now() - 1_000) return;
    await sleep(100);
  }
  console.log('the engine was still merging after 10 minutes; measuring anyway');
}

interface Case {
  range: string;
  series: number;
  tier: string;
  plan: string;
  points: number;
  p50_ms: number;
  p99_ms: number;
  engine_step_s: number;
  engine_points: number;
  engine_p50_ms: number;
  engine_p99_ms: number;
  /** Requests that failed, of RUNS (their time is in the quantiles). */
  failed: number;
  engine_failed: number;
}

interface Answer {
  tier: string;
  step: number;
  segments: { tier: string }[];
  series: { points: unknown[] }[];
}

/** What {@link timedInTurn} measured of one side: sorted times, the last answer, failures. */
interface Timed<T> {
  times: number[];
  last: T;
  failed: number;
  firstFailure?: string;
}

/**
 * Times `n` requests of each side after `warmup` ones, the sides taking turns request by request (gateway, engine,
 * gateway, …), so both meet the same machine: timed one side after the other, the first side of the first case read
 * while a fleet's first round was still being stored, the second after. A request that fails (an error status, an
 * answer that is not what was asked) is counted, its first reason kept, and its time kept too: a client waited for it.
 */
async function timedInTurn<A, B>(n: number, warmup: number, sides: [(i: number) => Promise<A>, (i: number) => Promise<B>]): Promise<[Timed<A>, Timed<B>]> {
  const state = sides.map(() => ({ times: [] as number[], last: undefined as unknown, failed: 0, firstFailure: undefined as string | undefined }));
  const attempt = async (side: number, i: number) => {
    const s = state[side]!;
    try {
      s.last = await sides[side]!(i);
    } catch (err) {
      s.failed++;
      s.firstFailure ??= (err as Error).message.slice(0, 300);
    }
  };
  for (let i = 0; i < warmup; i++) for (let side = 0; side < sides.length; side++) await attempt(side, RUNS + i);
  for (const s of state) s.failed = 0;
  for (let i = 0; i < n; i++) {
    for (let side = 0; side < sides.length; side++) {
      const started = performance.now();
      await attempt(side, i);
      const ms = performance.now() - started;
      state[side]!.times.push(ms);
      if (ms < MIN_GAP_MS) await sleep(MIN_GAP_MS - ms);
    }
  }
  const done = state.map((s) => {
    if (s.last === undefined) throw new Error(`every request failed: ${s.firstFailure}`);
    return { times: s.times.sort((a, b) => a - b), last: s.last, failed: s.failed, ...(s.firstFailure ? { firstFailure: s.firstFailure } : {}) };
  });
  return [done[0] as Timed<A>, done[1] as Timed<B>];
}

async function measure(suite: RunningSuite, engineUrl: string, now: number): Promise<Case[]> {
  const cases: Case[] = [];
  const extra = `${NAMESPACE_LABEL}=${suite.ns.id}`;
  for (const range of RANGES) {
    for (const selection of SELECTIONS) {
      const from = now - range.ms;
      const askGateway = async (i: number): Promise<Answer> => {
        const params = new URLSearchParams({ name: NAME, from: String(from), to: String(now) });
        for (const [k, v] of Object.entries(selection.tags(i))) params.set(`tag.${k}`, v);
        const res = await fetch(`${suite.base}/metrics/history?${params}`, { headers: { authorization: `Bearer ${suite.adminToken}` } });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`${range.label}/${selection.series}: the gateway answered ${res.status}: ${text.slice(0, 300)}`);
        const body = JSON.parse(text) as Answer;
        if (body.series.length !== selection.series) throw new Error(`${range.label}: ${body.series.length} series answered, expected ${selection.series}`);
        return body;
      };
      // The engine is asked at the step the gateway answers with.
      const stepS = Math.max(60, (await askGateway(RUNS + WARMUP)).step / 1000);
      const askEngine = async (i: number) => {
        const body = new URLSearchParams({
          query: `avg_over_time(${selector(NAME, selection.tags(i))}[${stepS}s])`,
          start: (from / 1000).toFixed(3),
          end: (now / 1000).toFixed(3),
          step: `${stepS}s`,
          nocache: '1',
          extra_label: extra,
        });
        const res = await fetch(`${engineUrl}/api/v1/query_range`, { method: 'POST', body });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`engine ${range.label}/${selection.series}: ${res.status} ${text.slice(0, 300)}`);
        const json = JSON.parse(text) as { data?: { result: { values: unknown[] }[] } };
        if (!json.data) throw new Error(`engine ${range.label}/${selection.series}: ${text.slice(0, 300)}`);
        return json.data.result;
      };
      const [gateway, engine] = await timedInTurn(RUNS, WARMUP, [askGateway, askEngine]);
      const answer = gateway.last;
      cases.push({
        range: range.label,
        series: selection.series,
        tier: answer.tier,
        plan: answer.segments.map((s) => s.tier).join('+'),
        points: answer.series.reduce((n, s) => n + s.points.length, 0),
        p50_ms: round2(quantile(gateway.times, 0.5)),
        p99_ms: round2(quantile(gateway.times, 0.99)),
        engine_step_s: stepS,
        engine_points: engine.last.reduce((n, s) => n + s.values.length, 0),
        engine_p50_ms: round2(quantile(engine.times, 0.5)),
        engine_p99_ms: round2(quantile(engine.times, 0.99)),
        failed: gateway.failed,
        engine_failed: engine.failed,
      });
      const c = cases.at(-1)!;
      console.log(`  ${c.range} × ${c.series}: gateway p50 ${fmt(c.p50_ms)} ms p99 ${fmt(c.p99_ms)} ms (${c.plan}, ${c.points} points); engine p50 ${fmt(c.engine_p50_ms)} ms p99 ${fmt(c.engine_p99_ms)} ms`);
      for (const [side, t] of [['gateway', gateway], ['engine', engine]] as const) if (t.failed > 0) console.log(`    ${side}: ${t.failed} of ${RUNS} failed, first: ${t.firstFailure}`);
    }
  }
  return cases;
}

function printCases(title: string, cases: Case[]): void {
  console.log(`\n${title}`);
  console.log('range  series  tier  read from               points  p50 ms  p99 ms failed | engine step  points  p50 ms  p99 ms failed | p99 ratio');
  for (const c of cases) {
    console.log(
      `${c.range.padEnd(6)} ${String(c.series).padStart(6)}  ${c.tier.padEnd(4)}  ${c.plan.padEnd(22)} ${String(c.points).padStart(6)}  ${fmt(c.p50_ms).padStart(6)}  ${fmt(c.p99_ms).padStart(6)} ${String(c.failed).padStart(6)} | ` +
        `${`${c.engine_step_s}s`.padStart(11)}  ${String(c.engine_points).padStart(6)}  ${fmt(c.engine_p50_ms).padStart(6)}  ${fmt(c.engine_p99_ms).padStart(6)} ${String(c.engine_failed).padStart(6)} | ${fmt(c.p99_ms / c.engine_p99_ms, 2).padStart(9)}`,
    );
  }
}

/**
 * The same reads while a live fleet is ingested through the suite (processor, storage and alert-manager started
 * for it, the bench publishing 100-series JSON messages on JetStream as bench:ingest's live fleet does): both sides
 * read from the engine the storage writes into, on the same loaded machine. Reading starts once the fleet's first
 * round (every series new) has been published.
 */
async function underFleet(suite: RunningSuite, engineUrl: string, now: number): Promise<{ cases: Case[]; offered: number; published: number }> {
  const procs = await suite.startServices([...FLEET_SERVICES]);
  const nc = await connect({ servers: suite.ns.config.nats.url, name: 'query-bench fleet' });
  const stop = new AbortController();
  try {
    const fleet = new LiveFleet(FLEET_SERIES);
    const rate = FLEET_SERIES / SAMPLES_PER_MESSAGE / (LIVE_FLEET.intervalMs / 1000);
    let published = 0;
    let reading = false;
    const publishing = publishPhase({
      js: nc.jetstream(),
      subject: `${suite.ns.id}.metrics.ingest.fleet`,
      factory: fleet,
      idPrefix: `${suite.ns.id}-fleet`,
      window: 256,
      durationMs: 24 * 3_600_000,
      ratePerS: rate,
      signal: stop.signal,
      onPublish: () => void (reading && published++),
    });
    let round = 0;
    await waitFor(() => ((round = fleet.builtPerGroup.filter((n) => n > 0).length) >= fleet.groups ? true : undefined), 10 * MINUTE_MS, 'the fleet\'s first round published', 500);
    console.log(`\nfleet: processor, storage and alert-manager started; first round of ${(round * SAMPLES_PER_MESSAGE).toLocaleString('en')} series published; reading`);
    reading = true;
    const cases = await measure(suite, engineUrl, now);
    stop.abort();
    await publishing;
    return { cases, offered: Math.round(rate * SAMPLES_PER_MESSAGE), published: published * SAMPLES_PER_MESSAGE };
  } finally {
    stop.abort();
    await nc.close();
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  }
}

let suite: RunningSuite | undefined;
let engineProcess: EngineProcess | undefined;
let pool: pg.Pool | undefined;
try {
  // An engine of the bench's own, started fresh: one that served other runs that day (their data, deleted series)
  // answers and merges differently, and this bench's 36 million samples stay out of the one tests share.
  engineProcess = await startEngineProcess();
  suite = await startSuite({ services: [], env: { VM_URL: engineProcess.url }, form: 'bundle' });
  console.log(`query bench: namespace ${suite.ns.id}, gateway ${suite.base}, engine ${engineProcess.url} (fresh); ${RUNS} requests per case after ${WARMUP} warm-ups`);
  pool = createPool(suite.ns.config.database, 'query-bench');
  const engine = new VictoriaMetrics({ ...suite.ns.config.storage.engine, url: engineProcess.url, timeoutMs: 300_000 });
  const now = Date.now();
  await load(pool, engine, now);
  const settling = performance.now();
  await engineSettled(engineProcess.url);
  console.log(`the engine's background merges of the import done after ${fmt((performance.now() - settling) / 1000, 2)} s`);
  const cases = await measure(suite, engineProcess.url, now);
  printCases('idle: nothing else running', cases);
  const fleet = FLEET_SERIES > 0 ? await underFleet(suite, engineProcess.url, now) : undefined;
  if (fleet) printCases(`under a live fleet of ${FLEET_SERIES.toLocaleString('en')} series every ${LIVE_FLEET.intervalMs / 1000} s (${fleet.offered.toLocaleString('en')} samples/s offered, ${fleet.published.toLocaleString('en')} published while reading)`, fleet.cases);
  const summary = (list: Case[]) => list.map(({ range, series, tier, p50_ms, p99_ms, engine_p50_ms, engine_p99_ms, failed, engine_failed }) => ({ range, series, tier, p50_ms, p99_ms, engine_p50_ms, engine_p99_ms, failed, engine_failed }));
  console.log(
    JSON.stringify({
      bench: 'query',
      p99_ms_max: Math.max(...cases.map((c) => c.p99_ms)),
      engine_p99_ms_max: Math.max(...cases.map((c) => c.engine_p99_ms)),
      cases: summary(cases),
      ...(fleet
        ? {
            fleet_series: FLEET_SERIES,
            fleet_p99_ms_max: Math.max(...fleet.cases.map((c) => c.p99_ms)),
            fleet_engine_p99_ms_max: Math.max(...fleet.cases.map((c) => c.engine_p99_ms)),
            fleet_cases: summary(fleet.cases),
          }
        : {}),
    }),
  );
} finally {
  await pool?.end();
  await suite?.stop();
  await engineProcess?.cleanup();
}
