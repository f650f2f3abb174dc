/**
 * Load test of the API gateway's metric reads with the shipped settings, rate limits included, against a suite this
 * script starts itself (storage, processor and api-gateway as real processes in a fresh test namespace; no TMON_*
 * setting changed).
 *
 * The benchmark principal is an API key of role `viewer` (the least role that reads metrics), made by the first
 * admin: its limits are the shipped `gateway.rateLimit.perPrincipal` (100 requests/s per key) and `perAddress`
 * (200 requests/s per client address; every request here comes from 127.0.0.1).
 *
 *   pnpm bench:api                                              (15 s per run, 10 connections for run c)
 *   pnpm bench:api --duration 30 --connections 20 --rate 50     (or BENCH_DURATION / BENCH_CONNECTIONS / BENCH_API_RATE)
 *
 * Runs, each request asking for other series than the one before it:
 *   a. GET /metrics/current?name=bench_current&tag.shard=<k> (100 of 10,000 series; k = 0, 1, … 99, 0, …), paced
 *      at BENCH_API_RATE requests/s, by default 90 % of the per-key limit: the limit is a fixed one-second window
 *      opened by its first request (rate-limiter-flexible on Redis), so pacing at exactly the limit lets a request
 *      that leaves a few ms late open a window that holds one request too many. Open loop: each request leaves at
 *      its time whatever the answers before it, and its latency counts from that time (goal: p99 < 20 ms);
 *   b. GET /metrics/history of one of 100 series over one day at 1-minute resolution (1,440 points), the next
 *      series each request, paced the same (goal: p99 < 100 ms);
 *   c. the reads of (a) as fast as BENCH_CONNECTIONS connections go (autocannon), with the same key: what a client
 *      over its limit gets; answers counted by status, the 429s included;
 *   d. sign-ins of the admin (POST /auth/login, the right password: Argon2id at the shipped cost and the atomic
 *      lockout script) paced at 5 a second, each from another client address (X-Forwarded-For through the trusted
 *      loopback proxy, as behind the shipped Ingress), goal p99 < 100 ms;
 *   e. the same sign-ins back to back on 4 connections: the most sign-ins a second one gateway answers.
 * Prints a table, then as the last line one JSON object for scripts to pick up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { connect, type NatsConnection } from 'nats';
import type pg from 'pg';
import { createPool } from '@terminusa/database';
import { SampleStore, VictoriaMetrics } from '@terminusa/metric-store';
import { buildServiceBundles, createTestNamespace, freePort, startServiceProcess, stopProcess, summarize, waitFor, type ServiceProcess, type Summary, type TestNamespace } from '@terminusa/testkit';

const SERVICES = ['storage', 'processor', 'api-gateway'] as const;
const ADMIN_PASSWORD = 'bench-admin-password-0123';
const CURRENT_SERIES = 10_000;
const SHARDS = 100;
const HISTORY_SERIES = 100;
const SAMPLES_PER_MESSAGE = 100;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
const HISTORY_POINTS = DAY_MS / MINUTE_MS;
const GOALS = { currentP99Ms: 20, historyP99Ms: 100, loginP99Ms: 100 };
/** Sign-ins a second in run d: a busy morning's worth for one gateway; run e finds the most it takes. */
const LOGIN_RATE = 5;
/** Connections of run e: the gateway hashes passwords on libuv's four threads, so four keep them all busy. */
const LOGIN_CONNECTIONS = 4;

const { values: flags } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    connections: { type: 'string', short: 'c' },
    duration: { type: 'string', short: 'd' },
    rate: { type: 'string', short: 'r' },
  },
  strict: true,
});
const CONNECTIONS = Number(flags.connections ?? process.env.BENCH_CONNECTIONS ?? 10);
const DURATION_S = Number(flags.duration ?? process.env.BENCH_DURATION ?? 15);
const RATE_SETTING = flags.rate ?? process.env.BENCH_API_RATE;
if (!Number.isInteger(CONNECTIONS) || CONNECTIONS < 1) throw new Error(`--connections must be a positive integer, got ${flags.connections ?? process.env.BENCH_CONNECTIONS}`);
if (!(DURATION_S > 0)) throw new Error(`--duration must be positive seconds, got ${flags.duration ?? process.env.BENCH_DURATION}`);
if (RATE_SETTING !== undefined && !(Number(RATE_SETTING) > 0)) throw new Error(`--rate must be positive requests per second, got ${RATE_SETTING}`);

const round1 = (n: number) => Math.round(n * 10) / 10;
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** The n-th request's path of each run: the next group of 100 current series, the next history series. */
const currentPath = (n: number) => `/metrics/current?name=bench_current&tag.shard=${n % SHARDS}`;
const historyPath = (t0: number) => (n: number) => `/metrics/history?name=bench_history&tag.host=bench-${n % HISTORY_SERIES}&from=${t0}&to=${t0 + DAY_MS}`;

/** What one run gave. */
interface RunFigures {
  label: string;
  /** Requests per second asked for; undefined: as fast as it goes. */
  rate: number | undefined;
  seconds: number;
  total: number;
  latency: Summary;
  statusCodes: Record<string, number>;
  errors: number;
}

const count = (r: RunFigures, test: (code: number) => boolean) => Object.entries(r.statusCodes).reduce((n, [code, c]) => (test(Number(code)) ? n + c : n), 0);
const ok = (r: RunFigures) => count(r, (c) => c >= 200 && c < 300);
const refused = (r: RunFigures) => count(r, (c) => c === 429);

/** Sends `rate` GETs of `pathOf(n)` a second with `key` for `durationS` (see {@link pacedRequests}). */
function paced(base: string, key: string, label: string, pathOf: (n: number) => string, rate: number, durationS = DURATION_S): Promise<RunFigures> {
  return pacedRequests(label, rate, durationS, (n) => fetch(`${base}${pathOf(n)}`, { headers: { authorization: `Bearer ${key}`, accept: 'application/json' }, signal: AbortSignal.timeout(10_000) }));
}

/** Sends `rate` requests a second for `durationS`, each at its own time (open loop); latency counts from that time. */
async function pacedRequests(label: string, rate: number, durationS: number, send: (n: number) => Promise<Response>): Promise<RunFigures> {
  const total = Math.round(rate * durationS);
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let errors = 0;
  const requests: Promise<void>[] = [];
  const t0 = performance.now();
  for (let n = 0; n < total; n++) {
    const due = t0 + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    requests.push(
      (async () => {
        try {
          const res = await send(n);
          await res.arrayBuffer();
          latencies.push(performance.now() - due);
          statusCodes[res.status] = (statusCodes[res.status] ?? 0) + 1;
        } catch {
          errors++;
        }
      })(),
    );
  }
  await Promise.all(requests);
  return { label, rate, seconds: (performance.now() - t0) / 1000, total, latency: summarize(latencies), statusCodes, errors };
}

/** As fast as CONNECTIONS connections go, for `durationS`, each request with the next path. */
async function flatOut(base: string, key: string, label: string, pathOf: (n: number) => string, durationS = DURATION_S): Promise<RunFigures> {
  let n = 0;
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: durationS,
    timeout: 10,
    headers: { authorization: `Bearer ${key}`, accept: 'application/json' },
    requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: pathOf(n++) }) }],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, { count: c }] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = Number(c);
  const { p50, p90, p99, max, min, mean } = result.latency;
  return { label, rate: undefined, seconds: result.duration, total: result.requests.total, latency: { n: result.requests.total, min, p50, p90, p99, max, mean }, statusCodes, errors: result.errors + result.timeouts };
}

/**
 * A sign-in of the admin from the n-th client address: behind the shipped proxies each client arrives with its own
 * X-Forwarded-For (the gateway trusts the loopback proxy by default), so no address' sign-in limit is reached.
 */
const login = (base: string, n: number) =>
  fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}` },
    body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    signal: AbortSignal.timeout(10_000),
  });

/** Sign-ins back to back on `connections` connections for `durationS`: the most the password hash lets through. */
async function loginsFlatOut(base: string, label: string, connections: number, durationS = DURATION_S): Promise<RunFigures> {
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let errors = 0;
  let n = 1_000_000;
  const t0 = performance.now();
  const end = t0 + durationS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        try {
          const res = await login(base, n++);
          await res.arrayBuffer();
          latencies.push(performance.now() - started);
          statusCodes[res.status] = (statusCodes[res.status] ?? 0) + 1;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { label, rate: undefined, seconds: (performance.now() - t0) / 1000, total: latencies.length + errors, latency: summarize(latencies), statusCodes, errors };
}

/** The parts of the metric answers the bench looks at. */
interface CurrentAnswer {
  values: unknown[];
}
interface HistoryAnswer {
  truncated: boolean;
  series: { points: unknown[] }[];
}
type Api = <T>(path: string) => Promise<{ status: number; body: T }>;

/** Publishes 10,000 series of `bench_current` in 100-sample messages and waits until the last one is readable. */
async function loadCurrent(ns: TestNamespace, nc: NatsConnection, api: Api): Promise<void> {
  const subject = `${ns.id}.metrics.ingest.bench`;
  const ts = Date.now();
  for (let first = 0; first < CURRENT_SERIES; first += SAMPLES_PER_MESSAGE) {
    const samples = Array.from({ length: SAMPLES_PER_MESSAGE }, (_, k) => {
      const i = first + k;
      return { name: 'bench_current', value: i, ts, tags: { series: String(i), shard: String(i % SHARDS) } };
    });
    nc.publish(subject, encode({ samples }));
  }
  await nc.flush();
  await waitFor(
    async () => {
      const { status, body } = await api<CurrentAnswer>(`/metrics/current?name=bench_current&tag.series=${CURRENT_SERIES - 1}`);
      return status === 200 && body.values.length > 0 ? true : undefined;
    },
    60_000,
    `series ${CURRENT_SERIES - 1} of bench_current at /metrics/current`,
    100,
  );
}

/** One day of 1-minute points of 100 `bench_history` series, written straight into the history store (the engine). */
async function loadHistory(ns: TestNamespace, pool: pg.Pool, t0: number): Promise<void> {
  const store = new SampleStore(pool, new VictoriaMetrics(ns.config.storage.engine));
  // Ten series per write: each write waits for the engine's next sync.
  for (let first = 0; first < HISTORY_SERIES; first += 10) {
    const samples = Array.from({ length: 10 }, (_, k) =>
      Array.from({ length: HISTORY_POINTS }, (_, i) => ({
        name: 'bench_history',
        ts: t0 + i * MINUTE_MS,
        value: 50 + 25 * Math.sin(i / 60 + first + k),
        tags: { host: `bench-${first + k}` },
      })),
    ).flat();
    const stored = await store.insert(samples);
    if (stored !== samples.length) throw new Error(`stored ${stored} history points of bench-${first}…${first + 9}, expected ${samples.length}`);
  }
}

async function main(): Promise<void> {
  let ns: TestNamespace | undefined;
  let nc: NatsConnection | undefined;
  let pool: pg.Pool | undefined;
  const procs: ServiceProcess[] = [];
  let json: string | undefined;
  let failure: unknown;
  try {
    ns = await createTestNamespace();
    const limits = ns.config.gateway.rateLimit;
    const rate = RATE_SETTING === undefined ? Math.floor(limits.perPrincipal * 0.9) : Number(RATE_SETTING);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = { ...ns.env, GATEWAY_PORT: String(port), GATEWAY_HOST: '127.0.0.1', OPS_PORT: '0', ADMIN_PASSWORD, LOG_LEVEL: 'warn' };
    console.log(
      `api bench: namespace ${ns.id}; shipped rate limits ${limits.perPrincipal} requests/s per key, ${limits.perAddress} per address; ` +
        `runs a and b at ${rate} requests/s, run c with ${CONNECTIONS} connections; ${DURATION_S} s per run`,
    );

    buildServiceBundles();
    for (const name of SERVICES) procs.push(startServiceProcess(name, env, 'bundle'));
    let token = '';
    try {
      await waitFor(async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined), 90_000, 'the gateway to answer', 250);
      const login = await fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
      });
      if (login.status !== 200) throw new Error(`login answered ${login.status}: ${await login.text()}`);
      token = ((await login.json()) as { token: string }).token;
      await waitFor(
        async () => {
          const res = await fetch(`${base}/health/details`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
          if (!res) return undefined;
          const body = (await res.json()) as { status: string; dependencies: Record<string, { ok: boolean }>; services: Record<string, { instances: number }> };
          // Only three of the suite's services run here, so the gateway says `degraded`, not `ok`: ready is a 200,
          // every dependency ok and each of the three with a live instance.
          const ready = res.status === 200 && Object.values(body.dependencies).every((d) => d.ok) && SERVICES.every((s) => (body.services[s]?.instances ?? 0) > 0);
          return ready ? body : undefined;
        },
        90_000,
        'storage, processor and api-gateway to be up',
        250,
      );
    } catch (err) {
      for (const p of procs) console.error(`--- ${p.name} output ---\n${p.output().slice(-4000)}`);
      throw err;
    }

    const api: Api = async <T>(path: string) => {
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as T };
    };

    // The benchmark principal.
    const created = await fetch(`${base}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'api-bench', role: 'viewer' }),
    });
    if (created.status !== 201) throw new Error(`POST /api-keys answered ${created.status}: ${await created.text()}`);
    const key = ((await created.json()) as { secret: string }).secret;

    // Data.
    // The history day ends before the current samples' timestamp, so its time range holds bench_history only.
    // Inside raw retention (1 day), so the day of 1-minute points is answered from the raw tier.
    const t0 = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - DAY_MS + 2 * MINUTE_MS;
    nc = await connect({ servers: ns.config.nats.url });
    let t = performance.now();
    await loadCurrent(ns, nc, api);
    console.log(`loaded ${CURRENT_SERIES.toLocaleString('en')} series of bench_current in ${fmt((performance.now() - t) / 1000, 2)} s`);

    // The gateway has migrated the schema by the time /health is ok.
    pool = createPool(ns.config.database, 'api-bench');
    t = performance.now();
    await loadHistory(ns, pool, t0);
    console.log(`loaded ${HISTORY_SERIES} series × ${HISTORY_POINTS} points of bench_history in ${fmt((performance.now() - t) / 1000, 2)} s`);

    // The answers are what the runs are meant to measure: every group and every series, once, paced under the
    // admin's own limit.
    const history = historyPath(t0);
    let currentBytes = 0;
    for (let n = 0; n < SHARDS; n++) {
      const answer = await api<CurrentAnswer>(currentPath(n));
      if (answer.status !== 200 || answer.body.values.length !== CURRENT_SERIES / SHARDS) {
        throw new Error(`${currentPath(n)} answered ${answer.status} with ${answer.body.values?.length} values, expected ${CURRENT_SERIES / SHARDS}`);
      }
      currentBytes = Buffer.byteLength(JSON.stringify(answer.body));
      await sleep(1000 / rate);
    }
    let historyBytes = 0;
    for (let n = 0; n < HISTORY_SERIES; n++) {
      const answer = await api<HistoryAnswer>(history(n));
      const points = (answer.body.series ?? []).reduce((sum, s) => sum + s.points.length, 0);
      if (answer.status !== 200 || points !== HISTORY_POINTS || answer.body.truncated) {
        throw new Error(`${history(n)} answered ${answer.status} with ${points} points (truncated: ${answer.body.truncated}), expected ${HISTORY_POINTS}`);
      }
      historyBytes = Buffer.byteLength(JSON.stringify(answer.body));
      await sleep(1000 / rate);
    }
    console.log(`answers: current ${CURRENT_SERIES / SHARDS} values, ${fmt(currentBytes / 1024)} KiB; history ${HISTORY_POINTS} points, ${fmt(historyBytes / 1024)} KiB`);

    // Warm-up (JIT, connection pools), not reported; a second between runs lets the key's window close.
    await paced(base, key, 'warm-up', (n) => (n % 2 ? currentPath(n) : history(n)), rate, 5);
    await sleep(1000);

    console.log(`running a. current at ${rate} req/s for ${DURATION_S} s ...`);
    const a = await paced(base, key, `a. current @ ${rate} req/s`, currentPath, rate);
    await sleep(1000);
    console.log(`running b. history at ${rate} req/s for ${DURATION_S} s ...`);
    const b = await paced(base, key, `b. history @ ${rate} req/s`, history, rate);
    await sleep(1000);
    console.log(`running c. current as fast as ${CONNECTIONS} connections go for ${DURATION_S} s ...`);
    const c = await flatOut(base, key, 'c. current, max rate', currentPath);
    await sleep(1000);
    console.log(`running d. sign-ins at ${LOGIN_RATE}/s for ${DURATION_S} s, e. sign-ins on ${LOGIN_CONNECTIONS} connections for ${DURATION_S} s ...`);
    const d = await pacedRequests(`d. login @ ${LOGIN_RATE}/s`, LOGIN_RATE, DURATION_S, (n) => login(base, n));
    const e = await loginsFlatOut(base, 'e. login, max rate', LOGIN_CONNECTIONS);
    const runs = [a, b, c, d, e];

    // Report.
    const line = (cells: string[]) => console.log(`${cells[0]!.padEnd(26)}${cells.slice(1).map((x) => x.padStart(10)).join('')}`);
    console.log('');
    line(['run', 'req/s', '2xx/s', '429', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'other', 'errors']);
    for (const r of runs) {
      const other = r.total - r.errors - ok(r) - refused(r);
      line([r.label, fmt(r.total / r.seconds), fmt(ok(r) / r.seconds), String(refused(r)), fmt(r.latency.p50), fmt(r.latency.p90), fmt(r.latency.p99), fmt(r.latency.max), String(other), String(r.errors)]);
    }
    console.log('');
    for (const r of runs) console.log(`status codes ${r.label}: ${JSON.stringify(r.statusCodes)}`);
    console.log(`(c's latencies are of every answer, the 429s included: over its limit, a key gets ${limits.perPrincipal} answers a second and the rest refused)`);
    const goal = (what: string, value: number, limit: number) => console.log(`goal ${what}: ${fmt(value)} ms < ${limit} ms -> ${value < limit ? 'met' : 'MISSED'}`);
    goal(`current p99 at ${rate} req/s`, a.latency.p99, GOALS.currentP99Ms);
    goal(`history (1 day, 1,440 points) p99 at ${rate} req/s`, b.latency.p99, GOALS.historyP99Ms);
    goal(`sign-in p99 at ${LOGIN_RATE}/s (Argon2id at the shipped cost, atomic lockout)`, d.latency.p99, GOALS.loginP99Ms);
    for (const r of [a, b]) if (refused(r) > 0) console.log(`note: ${r.label} was refused ${refused(r)} times (429) within the shipped limit of ${limits.perPrincipal} req/s`);
    const bad = runs.filter((r) => r.errors > 0 || r.total - ok(r) - refused(r) > 0);
    if (bad.length > 0) {
      console.log(`answers other than 2xx and 429, or errors, in: ${bad.map((r) => r.label).join(', ')} -- figures are not valid`);
      process.exitCode = 1;
    }

    json = JSON.stringify({
      bench: 'api',
      principal: 'api-key:viewer',
      limit_per_principal: limits.perPrincipal,
      limit_per_address: limits.perAddress,
      rate,
      current_p50_ms: round1(a.latency.p50),
      current_p99_ms: round1(a.latency.p99),
      current_429: refused(a),
      history_p50_ms: round1(b.latency.p50),
      history_p99_ms: round1(b.latency.p99),
      history_429: refused(b),
      max_rate_rps: round1(c.total / c.seconds),
      max_rate_2xx_per_s: round1(ok(c) / c.seconds),
      max_rate_429: refused(c),
      login_rate: LOGIN_RATE,
      login_p50_ms: round1(d.latency.p50),
      login_p99_ms: round1(d.latency.p99),
      login_max_per_s: round1(ok(e) / e.seconds),
      login_max_p99_ms: round1(e.latency.p99),
    });
  } catch (err) {
    failure = err;
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p, 5000)));
    await nc?.close().catch(() => undefined);
    await pool?.end().catch(() => undefined);
    await ns?.cleanup();
  }
  if (failure) throw failure;
  console.log(json);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
