/**
 * PromQL compatibility and latency of the suite's Prometheus query API, and Prometheus remote_write into the suite,
 * each beside Debian's Prometheus 2.42 holding the same data, in one run (issue 16). A report, not a test: it
 * fails only when it cannot measure. Real NATS, PostgreSQL, Redis and the shared VictoriaMetrics 1.79; the suite
 * (gateway, processor, storage, one replica each, shipped defaults) in a fresh test namespace.
 *
 * Data: a generated game fleet of 20 exporters (node http servers, Prometheus text format; one target each, with
 * target labels `pod` game-0…19 and `region` eu/us/asia), per exporter:
 *   game_requests_total{route,code}           8 counters (4 routes × 200/500) with integer increments of different
 *                                              rates per route, instance and scrape;
 *   game_request_duration_seconds{route}      a histogram (2 routes × 10 `le` buckets, `_sum`, `_count`);
 *   game_tick_seconds                          a summary (quantile 0.5/0.9/0.99, `_sum`, `_count`);
 *   game_players_online{zone}, game_memory_bytes, game_build_info{version}   gauges;
 *   game_event_players{event}                  a gauge on game-0…4 only from 30 % to 60 % of the run, so Prometheus
 *                                              writes staleness markers when it goes (the suite drops them);
 *   load_entity_hp_<n>{entity}                 BENCH_PROMQL_SERIES extra gauges over the fleet (default 0), to
 *                                              raise the offered remote_write rate.
 * game-7 restarts at half the run (every counter of it back to 0: a counter reset). Values are deterministic per
 * scrape: each scraper (`?scraper=…`) gets the same sequence. Two Prometheus servers scrape the fleet every 1 s
 * (scrape_interval: 1s) for BENCH_PROMQL_SECONDS (default 180):
 *   (1) remote_write to the gateway (`POST /api/v1/write`, a producer API key; batch_send_deadline 1s);
 *   (2) remote_write to the engine alone (`/api/v1/write?extra_label=tmon_ns=<a second namespace>`), for comparison.
 *
 * Measured:
 * (a) remote_write: samples/s each Prometheus sent (prometheus_remote_storage_samples_total over the run, from its
 *     own /metrics) beside the rate offered (prometheus_tsdb_head_samples_appended_total: what it scraped; scraping
 *     every 1 s bounds what is offered, so the rate sent is the offered rate, not a ceiling), its failed, retried
 *     and dropped samples, and lost: per series, samples Prometheus holds up to T that the suite (the engine) does
 *     not (count_over_time of every metric name up to T, each side's own query API, waited for until equal or
 *     for 120 s). T is the end of the run, on a 15 s boundary.
 * (b) compatibility: a table of PromQL queries, each asked of Prometheus (1) and of the suite's query API
 *     (`POST /api/v1/query`, `/api/v1/query_range` at the gateway, a viewer API key) as instant queries at three
 *     evaluation times (40 % into the run; 10 s after game_event_players went; T) and as one range query (step
 *     15 s, some 5 s, from the first step boundary a minute or 30 % of the run, whichever is less, into the data,
 *     to T), all more than the engine's -search.latencyOffset (30 s) in the past. Results compared as sets of label sets
 *     (order ignored, `tmon_ns` dropped), values within 1e-9 relative (NaN equals NaN), every point of a range; a
 *     query agrees when every evaluation of it does. Each disagreement is printed with a short reason. The same
 *     requests are compared between Prometheus (2) and the engine alone, which tells a difference of the engine
 *     (MetricsQL) from one of the suite's pipeline (e.g. the staleness markers it drops).
 * (c) latency: after that pass (the warm-up), BENCH_PROMQL_REPS (default 5) more passes of every request of every
 *     query on Prometheus (1), the gateway and, for the gateway's share, the engine directly (the suite's
 *     namespace as extra_label), in turn, over HTTP as a client sees it (form POST, JSON parsed), request starts
 *     at least 12 ms apart (the gateway's shipped 100 requests/s per principal); p50/p99 over all of them per side.
 *     Prometheus answers from its own TSDB (no result cache); the scrapes and remote writes go on meanwhile.
 * Beside the headline (shipped defaults), a second gateway of the suite set to Prometheus 2's semantics
 * (`storage.engine.rates: prometheus`: rate, increase and delta asked as Prometheus computes them;
 * `storage.engine.windowStart: included`: a window's start in it) answers the same requests: its agreement in (b), and
 * its latency in passes of its own after (c)'s, so that its heavier queries do not weigh on the headline's.
 *
 *   pnpm bench:promql
 *   BENCH_PROMQL_SECONDS=60 BENCH_PROMQL_REPS=2 pnpm bench:promql        (a quick run while developing)
 *   BENCH_PROMQL_SERIES=20000 pnpm bench:promql                          (20,000 more series: ~21,000 samples/s offered)
 *
 * Prints the table, then as the last line one JSON object for scripts to pick up.
 */
import { createServer, type Server } from 'node:http';
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { NAMESPACE_LABEL } from '@terminusa/metric-store';
import { APPENDED, createTestNamespace, DROPPED, envNumber, FAILED, fmt, freePort, isoTime, parseValue, PENDING, quantile, RETRIED, roundTo, selfMetrics, SENT, startPrometheus, startServiceProcess, startSuite, TEST_SERVERS, waitFor, type PrometheusProcess, type RunningSuite, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';

// ---------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------

const SECONDS = envNumber('BENCH_PROMQL_SECONDS', 180, (n) => Number.isInteger(n) && n >= 60);
const EXTRA_SERIES = envNumber('BENCH_PROMQL_SERIES', 0, (n) => Number.isInteger(n) && n >= 0);
const REPS = envNumber('BENCH_PROMQL_REPS', 5, (n) => Number.isInteger(n) && n >= 1);
const INSTANCES = 20;
const SCRAPE_MS = 1000;
const STEP_MS = 15_000;
const FINE_STEP_MS = 5_000;
/** Values agree within this relative difference. */
const TOLERANCE = 1e-9;
/** The gateway's shipped rate limit is 100 requests per second per principal: requests start at most this often. */
const MIN_GAP_MS = 12;
/** The engine moves instant queries closer to now than its -search.latencyOffset (30 s) back, and cuts range ends there. */
const LATENCY_OFFSET_MS = 30_000;
/** How long the suite and the engine may take to hold what Prometheus holds up to T. */
const COMPLETE_TIMEOUT_MS = 120_000;
/** The fleet's extra gauges, at most this many per name (the suite's cardinality guard takes 10,000 per name). */
const EXTRA_PER_NAME = 5000;
/** Scrapes (seconds) into the run: game-7 restarts; game_event_players exists in [EVENT_FROM, EVENT_TO). */
const RESET_AT = Math.floor(SECONDS * 0.5);
const EVENT_FROM = Math.floor(SECONDS * 0.3);
const EVENT_TO = Math.floor(SECONDS * 0.6);

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

function log(line = ''): void {
  console.log(line);
}

/** A deterministic pseudo-random number in [0, 1) of integer arguments. */
function unit(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x | 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return (h >>> 0) / 2 ** 32;
}

// ---------------------------------------------------------------------------------------------------------
// The exporter fleet
// ---------------------------------------------------------------------------------------------------------

const ROUTES = ['login', 'match', 'shop', 'chat'] as const;
const ROUTE_RATE: Record<(typeof ROUTES)[number], number> = { login: 3, match: 12, shop: 1.5, chat: 25 };
const TIMED_ROUTES = ['login', 'match'] as const;
const ROUTE_LATENCY: Record<(typeof TIMED_ROUTES)[number], number> = { login: 0.04, match: 0.18 };
const CODES = ['200', '500'] as const;
const ZONES = ['eu', 'us', 'asia'] as const;
const REGIONS = ['eu', 'us', 'asia'] as const;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const RESTARTING = 7;
const EVENT_PODS = 5;

/** One game server as one scraper sees it: scrape k advances its counters by the k-th increments. */
class GameInstance {
  private k = 0;
  private readonly requests = new Map<string, number>();
  private readonly buckets = new Map<string, number[]>();
  private readonly durationSum = new Map<string, number>();
  private tickSum = 0;
  private tickCount = 0;

  constructor(readonly i: number) {
    this.zero();
  }

  private zero(): void {
    for (const route of ROUTES) for (const code of CODES) this.requests.set(`${route}|${code}`, 0);
    for (const route of TIMED_ROUTES) {
      this.buckets.set(route, new Array<number>(BUCKETS.length + 1).fill(0));
      this.durationSum.set(route, 0);
    }
    this.tickSum = 0;
    this.tickCount = 0;
  }

  /** The exposition of scrape k (1, 2, …). */
  scrape(): string {
    const k = ++this.k;
    const i = this.i;
    if (i === RESTARTING && k === RESET_AT) this.zero();
    const served = new Map<string, number>();
    ROUTES.forEach((route, r) => {
      CODES.forEach((code, c) => {
        const rate = ROUTE_RATE[route] * (1 + (i % 5) / 4) * (code === '500' ? 0.04 : 1) * (0.6 + 0.8 * unit(i, r, c, k));
        const inc = Math.floor(rate) + (unit(i, r, c, k, 1) < rate - Math.floor(rate) ? 1 : 0);
        this.requests.set(`${route}|${code}`, this.requests.get(`${route}|${code}`)! + inc);
        served.set(route, (served.get(route) ?? 0) + inc);
      });
    });
    TIMED_ROUTES.forEach((route, r) => {
      const counts = this.buckets.get(route)!;
      const slow = i === 17 ? 3 : 1;
      for (let n = 0; n < served.get(route)!; n++) {
        const d = ROUTE_LATENCY[route] * slow * Math.exp(2 * (unit(i, r, k, n, 2) - 0.5) + (unit(i, r, k, n, 3) < 0.03 ? 2.5 : 0));
        const b = BUCKETS.findIndex((le) => d <= le);
        for (let j = b === -1 ? BUCKETS.length : b; j <= BUCKETS.length; j++) counts[j]!++;
        this.durationSum.set(route, this.durationSum.get(route)! + d);
      }
    });
    const q50 = 0.012 + 0.004 * unit(i, k, 4);
    this.tickSum += 60 * q50 * 1.1;
    this.tickCount += 60;

    const lines: string[] = [];
    lines.push('# HELP game_requests_total Requests served.', '# TYPE game_requests_total counter');
    for (const route of ROUTES) for (const code of CODES) lines.push(`game_requests_total{route="${route}",code="${code}"} ${this.requests.get(`${route}|${code}`)}`);
    lines.push('# HELP game_request_duration_seconds Request latency.', '# TYPE game_request_duration_seconds histogram');
    for (const route of TIMED_ROUTES) {
      const counts = this.buckets.get(route)!;
      BUCKETS.forEach((le, j) => lines.push(`game_request_duration_seconds_bucket{route="${route}",le="${le}"} ${counts[j]}`));
      lines.push(`game_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${counts[BUCKETS.length]}`);
      lines.push(`game_request_duration_seconds_sum{route="${route}"} ${this.durationSum.get(route)}`);
      lines.push(`game_request_duration_seconds_count{route="${route}"} ${counts[BUCKETS.length]}`);
    }
    lines.push('# HELP game_tick_seconds Server tick time.', '# TYPE game_tick_seconds summary');
    lines.push(`game_tick_seconds{quantile="0.5"} ${q50}`, `game_tick_seconds{quantile="0.9"} ${q50 * 1.4 + 0.002 * unit(i, k, 5)}`, `game_tick_seconds{quantile="0.99"} ${q50 * 2.2 + 0.01 * unit(i, k, 6)}`);
    lines.push(`game_tick_seconds_sum ${this.tickSum}`, `game_tick_seconds_count ${this.tickCount}`);
    lines.push('# HELP game_players_online Players online.', '# TYPE game_players_online gauge');
    ZONES.forEach((zone, z) => lines.push(`game_players_online{zone="${zone}"} ${Math.round(100 + 37 * (i + 1) * (z + 1) + 40 * Math.sin(k / 20 + i + z) + 20 * unit(i, z, k, 7))}`));
    lines.push('# TYPE game_memory_bytes gauge', `game_memory_bytes ${Math.round(1.2e9 + 3e7 * i + 1e5 * (i % 3) * k + 4e6 * unit(i, k, 8))}`);
    lines.push('# TYPE game_build_info gauge', `game_build_info{version="${i < 12 ? '1.4.2' : '1.5.0'}"} 1`);
    if (i < EVENT_PODS && k >= EVENT_FROM && k < EVENT_TO) {
      lines.push('# TYPE game_event_players gauge', `game_event_players{event="raid"} ${Math.round(20 + 30 * unit(i, k, 9) + (k % 7))}`);
    }
    for (let n = i; n < EXTRA_SERIES; n += INSTANCES) lines.push(`load_entity_hp_${Math.floor(n / EXTRA_PER_NAME)}{entity="${n}"} ${(n * 7 + k) % 1000}`);
    return `${lines.join('\n')}\n`;
  }
}

/** Twenty exporters, each with its own state per scraper (the `scraper` query parameter). */
class Fleet {
  readonly servers: Server[] = [];
  readonly ports: number[] = [];
  private readonly state = new Map<string, GameInstance>();

  async start(): Promise<void> {
    for (let i = 0; i < INSTANCES; i++) {
      const server = createServer((req, res) => {
        const scraper = new URL(req.url ?? '/', 'http://x').searchParams.get('scraper') ?? '';
        let game = this.state.get(`${scraper}|${i}`);
        if (!game) this.state.set(`${scraper}|${i}`, (game = new GameInstance(i)));
        res.setHeader('content-type', 'text/plain; version=0.0.4');
        res.end(game.scrape());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.servers.push(server);
      this.ports.push((server.address() as { port: number }).port);
    }
  }

  /** prometheus.yml of a scraper of the whole fleet, remote-writing as `remoteWrite` (YAML of one remote_write entry). */
  prometheusYml(scraper: string, remoteWrite: string): string {
    const targets = this.ports.map((port, i) => `      - targets: ['127.0.0.1:${port}']\n        labels: { pod: game-${i}, region: ${REGIONS[i % REGIONS.length]} }`).join('\n');
    return `global: { scrape_interval: ${SCRAPE_MS / 1000}s, scrape_timeout: ${SCRAPE_MS / 1000}s, evaluation_interval: 1m }
scrape_configs:
  - job_name: game
    params: { scraper: [${scraper}] }
    static_configs:
${targets}
remote_write:
${remoteWrite}
`;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

// ---------------------------------------------------------------------------------------------------------
// The Prometheus query API on either side
// ---------------------------------------------------------------------------------------------------------

type Labels = Record<string, string>;
type QueryPath = '/api/v1/query' | '/api/v1/query_range';

interface Answer {
  status: string;
  data?: { resultType: string; result: unknown };
  errorType?: string;
  error?: string;
  /** The HTTP status. */
  http: number;
}

/** A Prometheus query API: `params` as a form POST; the answer and how long it took, JSON parsed. */
type Api = (path: QueryPath, params: Record<string, string>) => Promise<{ answer: Answer; ms: number }>;

let lastStart = 0;
let rateLimited = 0;

/** Calls `url` + `path` with the form; request starts at least MIN_GAP_MS apart; a 429 is waited out and asked again. */
async function call(url: string, path: string, form: URLSearchParams, headers: Record<string, string> = {}): Promise<{ answer: Answer; ms: number }> {
  for (let attempt = 0; ; attempt++) {
    const wait = lastStart + MIN_GAP_MS - performance.now();
    if (wait > 0) await sleep(wait);
    lastStart = performance.now();
    const t0 = performance.now();
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form });
    const text = await res.text();
    let answer: Answer;
    try {
      answer = { ...(JSON.parse(text) as Omit<Answer, 'http'>), http: res.status };
    } catch {
      answer = { status: 'error', errorType: 'http', error: `${res.status}: ${text.slice(0, 200)}`, http: res.status };
    }
    const ms = performance.now() - t0;
    if (res.status === 429 && attempt < 5) {
      rateLimited++;
      await sleep(1000);
      continue;
    }
    return { answer, ms };
  }
}

function prometheusApi(url: string): Api {
  return (path, params) => call(url, path, new URLSearchParams(params));
}

/** The gateway's Prometheus query API (the public door), with a viewer API key. */
function gatewayApi(base: string, key: string): Api {
  return (path, params) => call(base, path, new URLSearchParams(params), { authorization: `Bearer ${key}` });
}

/** The engine's own query API for one namespace (its extra_label), as the gateway forwards to it. */
function engineApi(url: string, namespace: string): Api {
  return (path, params) => call(url.replace(/\/+$/, ''), path, new URLSearchParams({ ...params, extra_label: `${NAMESPACE_LABEL}=${namespace}` }));
}

/** The suite's side of every comparison: the gateway. (While it was being built: `engineApi(suite.ns.config.storage.engine.url, suite.ns.id)`.) */
const suiteApi = (suite: RunningSuite, viewerKey: string): Api => gatewayApi(suite.base, viewerKey);

// ---------------------------------------------------------------------------------------------------------
// Comparing answers
// ---------------------------------------------------------------------------------------------------------

function labelsKey(labels: Labels, keepName = true): string {
  const name = keepName ? (labels.__name__ ?? '') : '';
  const rest = Object.keys(labels)
    .filter((k) => k !== '__name__' && k !== NAMESPACE_LABEL)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${rest.join(',')}}`;
}

interface Normalized {
  type: string;
  /** Label set (without tmon_ns) → points (ms → value). */
  series: Map<string, Map<number, number>>;
}

function normalize(answer: Answer): Normalized {
  const { resultType, result } = answer.data!;
  const series = new Map<string, Map<number, number>>();
  const toMs = (t: number) => Math.round(t * 1000);
  if (resultType === 'scalar' || resultType === 'string') {
    const [t, v] = result as [number, string];
    series.set('{}', new Map([[toMs(t), resultType === 'string' ? NaN : parseValue(v)]]));
    if (resultType === 'string') series.set(`string ${v}`, new Map());
  } else if (resultType === 'vector') {
    for (const s of result as { metric: Labels; value: [number, string] }[]) series.set(labelsKey(s.metric), new Map([[toMs(s.value[0]), parseValue(s.value[1])]]));
  } else if (resultType === 'matrix') {
    for (const s of result as { metric: Labels; values: [number, string][] }[]) series.set(labelsKey(s.metric), new Map(s.values.map(([t, v]) => [toMs(t), parseValue(v)])));
  }
  return { type: resultType, series };
}

function sameValue(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  return Math.abs(a - b) <= TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}

const short = (key: string) => (key.length > 90 ? `${key.slice(0, 87)}...` : key);

/** Why `ours` differs from `prom`, or undefined when they agree. */
function difference(prom: Answer, ours: Answer): string | undefined {
  if (prom.status !== 'success' || ours.status !== 'success') {
    if (prom.status !== 'success' && ours.status !== 'success') return undefined;
    return prom.status !== 'success' ? `Prometheus refuses it (${prom.error}), ours answers` : `ours refuses it (${ours.http} ${ours.errorType}: ${ours.error}), Prometheus answers`;
  }
  const a = normalize(prom);
  const b = normalize(ours);
  const reasons: string[] = [];
  if (a.type !== b.type) reasons.push(`result type ${a.type}, ours ${b.type}`);
  let missing = [...a.series.keys()].filter((k) => !b.series.has(k));
  let extra = [...b.series.keys()].filter((k) => !a.series.has(k));
  // Series whose only difference is the metric name: compared by value all the same.
  const pairs: [string, string][] = [...a.series.keys()].filter((k) => b.series.has(k)).map((k) => [k, k]);
  if (missing.length > 0 && extra.length > 0) {
    const byRest = new Map(extra.map((k) => [k.slice(k.indexOf('{')), k]));
    const named = missing.filter((k) => byRest.has(k.slice(k.indexOf('{'))));
    if (named.length > 0) {
      const example = byRest.get(named[0]!.slice(named[0]!.indexOf('{')))!;
      const kept = !named[0]!.startsWith('{') ? 'drops' : 'keeps';
      reasons.push(`ours ${kept} the metric name on ${named.length} series (e.g. ${short(example)})`);
      for (const k of named) pairs.push([k, byRest.get(k.slice(k.indexOf('{')))!]);
      const matched = new Set(named.map((k) => byRest.get(k.slice(k.indexOf('{')))!));
      missing = missing.filter((k) => !named.includes(k));
      extra = extra.filter((k) => !matched.has(k));
    }
  }
  if (missing.length > 0) reasons.push(`${missing.length} of ${a.series.size} series missing in ours (e.g. ${short(missing[0]!)})`);
  if (extra.length > 0) reasons.push(`${extra.length} extra series in ours (e.g. ${short(extra[0]!)})`);
  let compared = 0;
  let diffs = 0;
  let nanDropped = 0;
  let pointsMissing = 0;
  let pointsExtra = 0;
  let example = '';
  for (const [ka, kb] of pairs) {
    const pa = a.series.get(ka)!;
    const pb = b.series.get(kb)!;
    for (const [t, va] of pa) {
      const vb = pb.get(t);
      if (vb === undefined) {
        if (Number.isNaN(va)) nanDropped++;
        else pointsMissing++;
        continue;
      }
      compared++;
      if (!sameValue(va, vb)) {
        diffs++;
        if (!example) example = `${short(ka)} @${isoTime(t).slice(11, 19)}: ${va} vs ours ${vb}, relative ${(Math.abs(va - vb) / Math.max(Math.abs(va), Math.abs(vb))).toExponential(1)}`;
      }
    }
    for (const t of pb.keys()) if (!pa.has(t)) pointsExtra++;
  }
  if (diffs > 0) reasons.push(`${diffs} of ${compared} values differ (e.g. ${example})`);
  if (nanDropped > 0) reasons.push(`${nanDropped} NaN points of Prometheus absent in ours`);
  if (pointsMissing > 0) reasons.push(`${pointsMissing} points missing in ours`);
  if (pointsExtra > 0) reasons.push(`${pointsExtra} extra points in ours`);
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The queries
// ---------------------------------------------------------------------------------------------------------

interface QueryCase {
  expr: string;
  /** A range vector or the like: instant queries only (a range query of it is an error in PromQL). */
  instantOnly?: boolean;
  /** The range query's step (default STEP_MS). */
  stepMs?: number;
}

/** The table; `at` is an evaluation time (seconds) for the `@` modifier. */
function queryTable(at: number): QueryCase[] {
  const fine = (expr: string): QueryCase => ({ expr, stepMs: FINE_STEP_MS });
  const instant = (expr: string): QueryCase => ({ expr, instantOnly: true });
  return [
    // Selectors and matchers
    { expr: 'game_players_online' },
    { expr: 'game_players_online{zone="eu"}' },
    { expr: 'game_players_online{zone!="eu"}' },
    { expr: 'game_requests_total{route=~"log.*|shop"}' },
    { expr: 'game_requests_total{code!~"5.."}' },
    { expr: '{__name__=~"game_players_.*", region="eu"}' },
    fine('game_requests_total{pod="game-7", route="login", code="200"}'),
    { expr: 'up' },
    instant('game_players_online[30s]'),
    instant('game_requests_total{pod="game-7"}[20s]'),
    instant('game_request_duration_seconds_bucket{pod="game-3", route="match"}[10s]'),
    // Counters and gauges over a window
    { expr: 'rate(game_requests_total[1m])' },
    fine('rate(game_requests_total{pod="game-7"}[2m])'),
    { expr: 'irate(game_requests_total[30s])' },
    { expr: 'increase(game_requests_total[1m])' },
    { expr: 'delta(game_players_online[1m])' },
    { expr: 'idelta(game_players_online[30s])' },
    { expr: 'deriv(game_players_online[1m])' },
    { expr: 'deriv(game_memory_bytes[2m])' },
    { expr: 'resets(game_requests_total[3m])' },
    { expr: 'changes(game_players_online[1m])' },
    { expr: 'changes(game_build_info[2m])' },
    // *_over_time
    { expr: 'avg_over_time(game_players_online[1m])' },
    { expr: 'min_over_time(game_players_online[1m])' },
    { expr: 'max_over_time(game_players_online[1m])' },
    fine('sum_over_time(game_players_online[30s])'),
    { expr: 'count_over_time(game_players_online[1m])' },
    { expr: 'last_over_time(game_players_online[1m])' },
    { expr: 'quantile_over_time(0.9, game_players_online[1m])' },
    { expr: 'stddev_over_time(game_players_online[1m])' },
    { expr: 'stdvar_over_time(game_memory_bytes[1m])' },
    { expr: 'present_over_time(game_event_players[1m])' },
    // Aggregations
    { expr: 'sum(game_players_online)' },
    fine('sum by (zone) (game_players_online)'),
    { expr: 'avg by (region) (game_players_online)' },
    { expr: 'min without (instance, pod) (game_players_online)' },
    { expr: 'max by (pod) (game_memory_bytes)' },
    { expr: 'count by (code) (game_requests_total)' },
    { expr: 'stddev by (zone) (game_players_online)' },
    { expr: 'stdvar(game_memory_bytes)' },
    { expr: 'group by (region, version) (game_build_info)' },
    fine('sum by (route) (rate(game_requests_total[1m]))'),
    { expr: 'sum without (code) (irate(game_requests_total[30s]))' },
    { expr: 'topk(3, game_players_online)' },
    { expr: 'bottomk(2, game_memory_bytes)' },
    { expr: 'topk by (zone) (2, game_players_online)' },
    { expr: 'quantile(0.9, game_players_online)' },
    { expr: 'quantile by (zone) (0.5, game_players_online)' },
    { expr: 'count_values("version", game_build_info)' },
    { expr: 'count_values by (zone) ("players", game_players_online{region="eu"})' },
    // Histograms and summaries
    { expr: 'histogram_quantile(0.9, rate(game_request_duration_seconds_bucket[1m]))' },
    fine('histogram_quantile(0.99, sum by (le, route) (rate(game_request_duration_seconds_bucket[1m])))'),
    { expr: 'histogram_quantile(0.5, sum by (le) (increase(game_request_duration_seconds_bucket[2m])))' },
    { expr: 'rate(game_request_duration_seconds_sum[1m]) / rate(game_request_duration_seconds_count[1m])' },
    { expr: 'game_tick_seconds{quantile="0.99"}' },
    { expr: 'max by (quantile) (game_tick_seconds)' },
    { expr: 'rate(game_tick_seconds_sum[1m]) / rate(game_tick_seconds_count[1m])' },
    // Binary operators
    { expr: 'game_players_online * 2 + 1' },
    { expr: 'game_memory_bytes / 1024 / 1024' },
    { expr: 'game_players_online % 7' },
    { expr: 'game_players_online ^ 2' },
    { expr: '-game_players_online' },
    fine('game_players_online > 600'),
    { expr: 'game_players_online > bool 600' },
    { expr: 'game_players_online == bool game_players_online offset 10s' },
    { expr: 'sum by (pod) (game_players_online) / on (pod) game_memory_bytes' },
    { expr: 'game_players_online / ignoring (zone) group_left game_memory_bytes' },
    { expr: 'game_players_online * on (pod) group_left (version) game_build_info' },
    { expr: 'game_build_info * on (pod) group_right game_players_online' },
    { expr: 'rate(game_requests_total{code="500"}[1m]) / ignoring (code) rate(game_requests_total{code="200"}[1m])' },
    { expr: 'game_players_online{zone="eu"} and game_players_online{region="eu"}' },
    { expr: 'game_players_online{zone="eu"} or game_players_online{zone="us"}' },
    { expr: 'game_players_online unless game_players_online{region="asia"}' },
    { expr: 'game_players_online and on (pod) (game_memory_bytes > 1.5e9)' },
    { expr: 'up == 1' },
    // offset and @
    { expr: 'game_players_online offset 30s' },
    { expr: 'rate(game_requests_total[1m] offset 1m)' },
    { expr: `game_players_online @ ${at}` },
    { expr: 'sum(game_players_online @ end())' },
    { expr: 'max_over_time(game_players_online[1m] @ start())' },
    // Subqueries
    { expr: 'max_over_time(rate(game_requests_total[30s])[2m:15s])' },
    fine('avg_over_time(sum(game_players_online)[1m:5s])'),
    { expr: 'deriv(sum(game_memory_bytes)[2m:10s])' },
    { expr: 'min_over_time(game_players_online[1m:10s])' },
    // Labels
    { expr: 'label_replace(game_players_online, "host", "$1", "instance", "([^:]+):.*")' },
    { expr: 'label_join(game_build_info, "id", "/", "pod", "version")' },
    { expr: 'label_replace(up, "job", "renamed", "", "")' },
    // absent
    { expr: 'absent(game_players_online)' },
    { expr: 'absent(game_missing_metric{zone="eu"})' },
    { expr: 'absent_over_time(game_event_players[30s])' },
    { expr: 'absent_over_time(game_missing_metric[1m])' },
    // predict_linear, clamp and rounding
    { expr: 'predict_linear(game_memory_bytes[2m], 300)' },
    { expr: 'predict_linear(game_players_online[1m], 60)' },
    { expr: 'clamp(game_players_online, 300, 900)' },
    { expr: 'clamp_min(game_players_online, 500)' },
    { expr: 'clamp_max(game_players_online, 400)' },
    { expr: 'abs(game_players_online - 500)' },
    { expr: 'ceil(game_tick_seconds * 100)' },
    { expr: 'round(game_memory_bytes / 1e6)' },
    { expr: 'round(game_players_online, 5)' },
    { expr: 'floor(rate(game_requests_total[1m]))' },
    // Time, sort, vector and scalar
    { expr: 'time()' },
    { expr: 'timestamp(game_players_online)' },
    { expr: 'time() - timestamp(game_memory_bytes)' },
    { expr: 'sort(sum by (pod) (game_players_online))' },
    { expr: 'sort_desc(game_memory_bytes)' },
    { expr: 'vector(1)' },
    { expr: 'scalar(sum(game_players_online))' },
    { expr: 'game_players_online / scalar(sum(game_players_online))' },
    { expr: 'sum(game_players_online) + vector(10)' },
    { expr: 'count(up) - scalar(count(game_build_info))' },
    // A series that went away (Prometheus' staleness markers)
    fine('game_event_players'),
    { expr: 'count_over_time(game_event_players[1m])' },
    { expr: 'last_over_time(game_event_players[2m])' },
    { expr: 'sum(game_event_players) or vector(0)' },
  ];
}

interface Ask {
  label: string;
  path: QueryPath;
  params: Record<string, string>;
}

interface Outcome {
  q: QueryCase;
  requests: Ask[];
  reasons: string[];
  /** The same requests of the engine alone against the Prometheus that remote-writes straight into it. */
  aloneReasons: string[];
  /** The same requests of the gateway set to Prometheus 2's semantics, against the same Prometheus. */
  extrapolatedReasons: string[];
  promMs: number[];
  oursMs: number[];
  /** The same requests to the engine directly (its extra_label), not through the gateway. */
  engineMs: number[];
  extrapolatedMs: number[];
}

// ---------------------------------------------------------------------------------------------------------
// Remote write: Prometheus' own counters, and what each side holds
// ---------------------------------------------------------------------------------------------------------

/** Samples per series (name + labels) held up to `at`, over the last `windowS` seconds, through `api`. */
async function held(api: Api, names: readonly string[], at: number, windowS: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const name of names) {
    const { answer } = await api('/api/v1/query', { query: `count_over_time(${name}[${windowS}s])`, time: String(at / 1000) });
    if (answer.status !== 'success') throw new Error(`count_over_time(${name}) answered ${answer.http}: ${answer.error}`);
    for (const s of answer.data!.result as { metric: Labels; value: [number, string] }[]) counts.set(`${name}${labelsKey(s.metric, false)}`, Number(s.value[1]));
  }
  return counts;
}

interface Holding {
  samples: number;
  series: number;
  lost: number;
  extra: number;
}

function compareHeld(prom: Map<string, number>, ours: Map<string, number>): Holding {
  let samples = 0;
  let lost = 0;
  let extra = 0;
  for (const [key, n] of prom) {
    samples += n;
    const o = ours.get(key) ?? 0;
    lost += Math.max(0, n - o);
    extra += Math.max(0, o - n);
  }
  for (const [key, o] of ours) if (!prom.has(key)) extra += o;
  return { samples, series: prom.size, lost, extra };
}

/** Waits until `ours` holds what `prom` holds up to `at` (or the timeout): the last comparison and when it was made. */
async function waitComplete(label: string, promUrl: string, ours: Api, at: number, windowS: number): Promise<Holding & { waitedS: number }> {
  const t0 = performance.now();
  const names = ((await (await fetch(`${promUrl}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
  const theirs = await held(prometheusApi(promUrl), names, at, windowS);
  let h: Holding = { samples: 0, series: theirs.size, lost: Number.POSITIVE_INFINITY, extra: 0 };
  for (;;) {
    try {
      h = compareHeld(theirs, await held(ours, names, at, windowS));
    } catch (err) {
      // A count the side could not answer now (busy, timed out): asked again until the timeout.
      log(`  ${label}: ${(err as Error).message}`);
    }
    const waitedS = (performance.now() - t0) / 1000;
    if ((h.lost === 0 && h.extra === 0) || performance.now() - t0 > COMPLETE_TIMEOUT_MS) {
      if (h.lost > 0 || h.extra > 0) log(`  ${label}: NOT complete after ${fmt(waitedS)} s: ${fmt(h.lost)} samples missing, ${fmt(h.extra)} extra`);
      return { ...h, waitedS };
    }
    await sleep(2000);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------

let suite: RunningSuite | undefined;
let second: TestNamespace | undefined;
/** A second gateway of the suite set to Prometheus 2's semantics (`storage.engine.rates: prometheus`, `windowStart: included`). */
let extrapolating: ServiceProcess | undefined;
const prometheuses: PrometheusProcess[] = [];
const fleet = new Fleet();
let cleaned: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await Promise.allSettled(prometheuses.map((p) => p.stop()));
    await fleet.stop();
    extrapolating?.kill('SIGKILL');
    await extrapolating?.exited;
    await suite?.stop().catch(() => undefined);
    await second?.cleanup().catch(() => undefined);
  })();
  return cleaned;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping Prometheus, the exporters and the services, removing the namespaces…`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** The whole run; what the JSON line reports. */
async function run(): Promise<Record<string, unknown>> {
  const perInstance = ROUTES.length * CODES.length + TIMED_ROUTES.length * (BUCKETS.length + 3) + 5 + ZONES.length + 2;
  log(`promql bench: ${INSTANCES} exporters × ${perInstance} series (+ game_event_players on ${EVENT_PODS} of them for a while${EXTRA_SERIES ? `, + ${fmt(EXTRA_SERIES)} extra gauges` : ''}), ` +
    `scraped every ${SCRAPE_MS / 1000} s for ${SECONDS} s by two Prometheus servers; suite: gateway, processor, storage, shipped defaults`);
  const loadAtStart = loadavg()[0]!;
  suite = await startSuite({ services: ['processor', 'storage'], form: 'bundle' });
  second = await createTestNamespace();
  const producer = await suite.apiKey('prometheus-bench', 'producer');
  const viewer = await suite.apiKey('grafana-bench', 'viewer');
  const ours = suiteApi(suite, viewer);
  const probe = await ours('/api/v1/query', { query: 'vector(1)' });
  if (probe.answer.status !== 'success') {
    throw new Error(`the suite's query API answered ${probe.answer.http} ${probe.answer.error ?? ''}: is the gateway's Prometheus API in? (for development, switch suiteApi to engineApi)`);
  }
  // Beside the shipped gateway, one with the setting that asks rate, increase and delta as Prometheus computes them.
  const port = await freePort();
  extrapolating = startServiceProcess('api-gateway', { ...suite.env, GATEWAY_PORT: String(port), TMON_STORAGE__ENGINE__RATES: 'prometheus', TMON_STORAGE__ENGINE__WINDOW_START: 'included' }, 'bundle');
  const extrapolatingBase = `http://127.0.0.1:${port}`;
  await waitFor(async () => ((await fetch(`${extrapolatingBase}/health`).catch(() => undefined))?.ok ? true : undefined), 60_000, 'the second gateway to answer', 250);
  const oursExtrapolating = gatewayApi(extrapolatingBase, viewer);
  const vmUrl = TEST_SERVERS.vmUrl.replace(/\/+$/, '');
  const engineAlone = engineApi(vmUrl, second.id);
  log(`  namespaces: suite ${suite.ns.id}, engine alone ${second.id}; gateway ${suite.base}`);

  await fleet.start();
  const queue = 'queue_config: { batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }';
  const toSuite = await startPrometheus(fleet.prometheusYml('suite', `  - url: ${suite.base}/api/v1/write\n    authorization: { type: Bearer, credentials: ${producer} }\n    ${queue}`));
  prometheuses.push(toSuite);
  const toEngine = await startPrometheus(fleet.prometheusYml('engine', `  - url: '${vmUrl}/api/v1/write?extra_label=${NAMESPACE_LABEL}=${second.id}'\n    ${queue}`));
  prometheuses.push(toEngine);
  const startedAt = Date.now();
  log(`  Prometheus → gateway ${toSuite.url}, Prometheus → engine ${toEngine.url}; started ${isoTime(startedAt)}`);

  // (a) remote_write while the fleet runs -------------------------------------------------------------------
  await sleep(10_000);
  const before = await Promise.all([selfMetrics(toSuite.url), selfMetrics(toEngine.url)]);
  const fromAt = performance.now();
  for (let s = 10; s < SECONDS; s += 30) {
    await sleep(Math.min(30, SECONDS - s) * 1000);
    log(`  ${fmt(Math.min(SECONDS, s + 30))} s of ${SECONDS}`);
  }
  const after = await Promise.all([selfMetrics(toSuite.url), selfMetrics(toEngine.url)]);
  const span = (performance.now() - fromAt) / 1000;
  const endAt = Date.now();
  const rw = [0, 1].map((i) => {
    const d = (name: string) => (after[i]!.get(name) ?? 0) - (before[i]!.get(name) ?? 0);
    return {
      sentPerS: d(SENT) / span,
      offeredPerS: d(APPENDED) / span,
      failed: after[i]!.get(FAILED) ?? 0,
      retried: after[i]!.get(RETRIED) ?? 0,
      dropped: after[i]!.get(DROPPED) ?? 0,
      pending: after[i]!.get(PENDING) ?? 0,
    };
  });

  // T: the end of the run on a 15 s boundary; queries are asked once it lies past the engine's latency offset.
  const T = Math.floor((endAt - 5000) / STEP_MS) * STEP_MS;
  const windowS = Math.ceil((T - startedAt) / 1000) + 60;
  log(`\nT = ${isoTime(T)}; waiting until each side holds what its Prometheus holds up to T…`);
  const heldSuite = await waitComplete('suite', toSuite.url, ours, T, windowS);
  const heldEngine = await waitComplete('engine alone', toEngine.url, engineAlone, T, windowS);
  log(`  suite: ${fmt(heldSuite.samples)} samples of ${fmt(heldSuite.series)} series; lost ${fmt(heldSuite.lost)}, extra ${fmt(heldSuite.extra)} (checked after ${fmt(heldSuite.waitedS, 1)} s)`);
  log(`  engine alone: ${fmt(heldEngine.samples)} samples of ${fmt(heldEngine.series)} series; lost ${fmt(heldEngine.lost)}, extra ${fmt(heldEngine.extra)} (checked after ${fmt(heldEngine.waitedS, 1)} s)`);
  const wait = T + LATENCY_OFFSET_MS + 5000 - Date.now();
  if (wait > 0) await sleep(wait);

  // (b) compatibility -------------------------------------------------------------------------------------------
  const prom = prometheusApi(toSuite.url);
  const mid = Math.floor((startedAt + 0.4 * (T - startedAt)) / 1000) * 1000;
  const afterEvent = Math.floor((startedAt + EVENT_TO * SCRAPE_MS + 10_000) / 1000) * 1000;
  const instants = [
    { label: 'instant @40%', at: mid },
    { label: 'instant @event+10s', at: afterEvent },
    { label: 'instant @T', at: T },
  ];
  const rangeStart = (stepMs: number) => Math.ceil((startedAt + Math.min(60_000, 0.3 * (T - startedAt))) / stepMs) * stepMs;
  const table = queryTable(mid / 1000);
  const outcomes: Outcome[] = table.map((q) => {
    const requests: Ask[] = instants.map((e) => ({ label: e.label, path: '/api/v1/query' as const, params: { query: q.expr, time: String(e.at / 1000) } }));
    if (!q.instantOnly) {
      const stepMs = q.stepMs ?? STEP_MS;
      requests.push({ label: `range step ${stepMs / 1000}s`, path: '/api/v1/query_range', params: { query: q.expr, start: String(rangeStart(stepMs) / 1000), end: String(T / 1000), step: String(stepMs / 1000) } });
    }
    return { q, requests, reasons: [], aloneReasons: [], extrapolatedReasons: [], promMs: [], oursMs: [], engineMs: [], extrapolatedMs: [] };
  });
  log(`\n(b) ${outcomes.length} queries, each as instant queries at ${instants.map((e) => isoTime(e.at).slice(11, 19)).join(', ')} ` +
    `and (all but ${outcomes.filter((o) => o.q.instantOnly).length} range-vector ones) a range query ${isoTime(rangeStart(STEP_MS)).slice(11, 19)}…${isoTime(T).slice(11, 19)}`);
  const promAlone = prometheusApi(toEngine.url);
  for (const o of outcomes) {
    for (const r of o.requests) {
      const promAnswer = (await prom(r.path, r.params)).answer;
      const why = difference(promAnswer, (await ours(r.path, r.params)).answer);
      if (why) o.reasons.push(`${r.label}: ${why}`);
      const whyExtrapolated = difference(promAnswer, (await oursExtrapolating(r.path, r.params)).answer);
      if (whyExtrapolated) o.extrapolatedReasons.push(`${r.label}: ${whyExtrapolated}`);
      // The same query of the engine alone, against the Prometheus writing straight into it: is a difference the engine's?
      const whyAlone = difference((await promAlone(r.path, r.params)).answer, (await engineAlone(r.path, r.params)).answer);
      if (whyAlone) o.aloneReasons.push(`${r.label}: ${whyAlone}`);
    }
  }

  // (c) latency ----------------------------------------------------------------------------------------------------
  log(`\n(c) latency: ${REPS} passes of ${outcomes.reduce((n, o) => n + o.requests.length, 0)} requests on each side (and on the engine directly, for the gateway's share)`);
  const direct = engineApi(suite.ns.config.storage.engine.url, suite.ns.id);
  const sides: { api: Api; times: (o: Outcome) => number[] }[] = [
    { api: prom, times: (o) => o.promMs },
    { api: ours, times: (o) => o.oursMs },
    { api: direct, times: (o) => o.engineMs },
  ];
  for (let rep = 0; rep < REPS; rep++) {
    for (const o of outcomes) {
      for (const r of o.requests) {
        // Each side first, second and third in turn.
        for (let j = 0; j < sides.length; j++) {
          const side = sides[(rep + j) % sides.length]!;
          side.times(o).push((await side.api(r.path, r.params)).ms);
        }
      }
    }
  }
  // The gateway set to Prometheus 2's semantics after the headline's passes, not among them: its rates take the engine
  // several times the work, which would weigh on the requests timed next to them.
  for (let rep = 0; rep < REPS; rep++) for (const o of outcomes) for (const r of o.requests) o.extrapolatedMs.push((await oursExtrapolating(r.path, r.params)).ms);
  const allProm = outcomes.flatMap((o) => o.promMs).sort((a, b) => a - b);
  const allOurs = outcomes.flatMap((o) => o.oursMs).sort((a, b) => a - b);
  const allEngine = outcomes.flatMap((o) => o.engineMs).sort((a, b) => a - b);
  const allExtrapolated = outcomes.flatMap((o) => o.extrapolatedMs).sort((a, b) => a - b);

  // Report ------------------------------------------------------------------------------------------------------
  log(`\n  #  agree  engine alone agrees  p50 ms: Prometheus  ours  engine  query`);
  const p50 = (ms: number[]) => fmt(quantile([...ms].sort((a, b) => a - b), 0.5), 1);
  outcomes.forEach((o, n) => {
    log(`${String(n + 1).padStart(3)}  ${o.reasons.length === 0 ? 'yes' : 'NO '}  ${(o.aloneReasons.length === 0 ? 'yes' : 'NO').padStart(19)}  ${p50(o.promMs).padStart(18)}  ${p50(o.oursMs).padStart(4)}  ${p50(o.engineMs).padStart(6)}  ${o.q.expr}${o.q.instantOnly ? '  (instant only)' : o.q.stepMs ? `  (range step ${o.q.stepMs / 1000}s)` : ''}`);
  });
  const disagreeing = outcomes.map((o, n) => ({ o, n })).filter(({ o }) => o.reasons.length > 0);
  log(`\nDisagreements (${disagreeing.length}):`);
  for (const { o, n } of disagreeing) {
    log(`${String(n + 1).padStart(3)}  ${o.q.expr}`);
    for (const r of o.reasons) log(`       ${r}`);
    log(`       engine alone against its Prometheus: ${o.aloneReasons.length === 0 ? 'agrees (the difference is the suite\'s)' : `differs too (${o.aloneReasons[0]})`}`);
  }
  const aloneOnly = outcomes.map((o, n) => ({ o, n })).filter(({ o }) => o.reasons.length === 0 && o.aloneReasons.length > 0);
  for (const { o, n } of aloneOnly) log(`${String(n + 1).padStart(3)}  ${o.q.expr}: the suite agrees, the engine alone differs: ${o.aloneReasons.join('; ')}`);
  const agree = outcomes.length - disagreeing.length;
  const agreePct = (100 * agree) / outcomes.length;
  const lost = heldSuite.lost + heldEngine.lost;
  const extrapolatedAgree = outcomes.filter((o) => o.extrapolatedReasons.length === 0).length;
  const rateQueries = outcomes.filter((o) => /\b(rate|increase|delta)\(/.test(o.q.expr));
  const rateTimes = (pick: (o: Outcome) => number[]) => rateQueries.flatMap(pick).sort((a, b) => a - b);
  log(`\nSummary (shipped defaults; ${SECONDS} s of data${EXTRA_SERIES ? `, ${fmt(EXTRA_SERIES)} extra series` : ''}; ` +
    `${availableParallelism()} cores, 1-minute load average ${fmt(loadAtStart, 1)} at the start, ${fmt(loadavg()[0]!, 1)} at the end)`);
  log(`  compatibility: ${agree} of ${outcomes.length} queries agree (${fmt(agreePct, 1)} %), each at ${instants.length} instants${outcomes.some((o) => !o.q.instantOnly) ? ' and over a range' : ''}; ` +
    `the engine alone (remote_write straight in, staleness markers kept) against its Prometheus: ${outcomes.filter((o) => o.aloneReasons.length === 0).length} agree`);
  log(`  latency over HTTP, ${fmt(allProm.length)} requests a side: Prometheus p50 ${fmt(quantile(allProm, 0.5), 1)} ms, p99 ${fmt(quantile(allProm, 0.99), 1)} ms; ` +
    `the suite (gateway) p50 ${fmt(quantile(allOurs, 0.5), 1)} ms, p99 ${fmt(quantile(allOurs, 0.99), 1)} ms${rateLimited ? ` (${rateLimited} requests answered 429 and asked again)` : ''}; ` +
    `the engine directly p50 ${fmt(quantile(allEngine, 0.5), 1)} ms, p99 ${fmt(quantile(allEngine, 0.99), 1)} ms`);
  log(`  beside the headline, a gateway set to Prometheus 2's semantics (storage.engine.rates: prometheus, windowStart: included): ` +
    `${extrapolatedAgree} of ${outcomes.length} agree; p50 ${fmt(quantile(allExtrapolated, 0.5), 1)} ms, p99 ${fmt(quantile(allExtrapolated, 0.99), 1)} ms; ` +
    `the ${rateQueries.length} queries with a rate, increase or delta p50 ${fmt(quantile(rateTimes((o) => o.extrapolatedMs), 0.5), 1)} ms, p99 ${fmt(quantile(rateTimes((o) => o.extrapolatedMs), 0.99), 1)} ms ` +
    `(shipped: p50 ${fmt(quantile(rateTimes((o) => o.oursMs), 0.5), 1)} ms, p99 ${fmt(quantile(rateTimes((o) => o.oursMs), 0.99), 1)} ms; Prometheus p50 ${fmt(quantile(rateTimes((o) => o.promMs), 0.5), 1)} ms, p99 ${fmt(quantile(rateTimes((o) => o.promMs), 0.99), 1)} ms)`);
  for (const o of outcomes.filter((x) => x.extrapolatedReasons.length > 0)) log(`    still differs with it: #${outcomes.indexOf(o) + 1} ${o.q.expr}: ${o.extrapolatedReasons[0]}`);
  const rwLine = (label: string, r: (typeof rw)[number], h: Holding) =>
    `  remote_write → ${label}: ${fmt(r.sentPerS)} samples/s sent (offered: ${fmt(r.offeredPerS)} samples/s scraped); ` +
    `failed ${fmt(r.failed)}, retried ${fmt(r.retried)}, dropped ${fmt(r.dropped)}, pending at the end ${fmt(r.pending)}; lost ${fmt(h.lost)} of ${fmt(h.samples)} held up to T`;
  log(rwLine('the suite (gateway)', rw[0]!, heldSuite));
  log(rwLine('the engine alone', rw[1]!, heldEngine));
  log(`  (scraping every ${SCRAPE_MS / 1000} s bounds the offered rate: the rates sent are what was offered, not what either side could take)`);

  return {
    bench: 'promql',
    queries: outcomes.length,
    agree,
    agree_pct: roundTo(agreePct, 1),
    ours_p99_ms: roundTo(quantile(allOurs, 0.99), 1),
    prometheus_p99_ms: roundTo(quantile(allProm, 0.99), 1),
    remote_write_per_s: roundTo(rw[0]!.sentPerS),
    engine_remote_write_per_s: roundTo(rw[1]!.sentPerS),
    lost,
    prometheus2_settings_agree: extrapolatedAgree,
    prometheus2_settings_p99_ms: roundTo(quantile(allExtrapolated, 0.99), 1),
  };
}

async function main(): Promise<void> {
  let result: Record<string, unknown>;
  try {
    result = await run();
  } catch (err) {
    for (const p of prometheuses) console.error(`--- prometheus ${p.url} ---\n${p.output().slice(-3000)}`);
    throw err;
  } finally {
    await cleanup();
  }
  console.log(JSON.stringify(result));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
