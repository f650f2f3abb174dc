import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import type pg from 'pg';
import { Bus, ensureStreams } from '@terminusa/bus';
import { loadConfig } from '@terminusa/config';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { createLogger, Health } from '@terminusa/runtime';
import { createTestDatabase, createTestNamespace, QUICK_SYNC, waitFor, type TestNamespace } from '@terminusa/testkit';
import { gatewayDeps } from '../gateway-deps.ts';
import { createApp } from '../app.ts';

const ADMIN_PASSWORD = 'prometheus-api-admin-pw';
const JWT_SECRET = 'a-test-secret-of-at-least-32-characters!!';
/** The samples start 40 minutes ago on a whole minute, one every 15 s for 30 minutes. */
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 40 * 60_000;
const SCRAPE_MS = 15_000;
const POINTS = 121;
/** An instant in the middle of the samples, in the epoch seconds the API speaks. */
const AT = (T0 + 20 * 60_000) / 1000;
const RANGE = { start: String(T0 / 1000), end: String((T0 + 30 * 60_000) / 1000) };

let ns: TestNamespace;
let other: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let redis: Redis;
let nc: NatsConnection;
const servers: Server[] = [];
let base: string;
let viewerKey: string;

/** A JSON line of the engine's import: a counter rising `perSecond`, or a constant gauge when `gauge` is set. */
function line(labels: Record<string, string>, perSecond: number, gauge?: number): string {
  const timestamps = Array.from({ length: POINTS }, (_, i) => T0 + i * SCRAPE_MS);
  const values = timestamps.map((_, i) => gauge ?? (i * SCRAPE_MS * perSecond) / 1000);
  return JSON.stringify({ metric: labels, values, timestamps });
}

async function write(namespace: TestNamespace, lines: string[]): Promise<void> {
  const engine = new VictoriaMetrics(namespace.config.storage.engine);
  await engine.import(`${lines.join('\n')}\n`);
  await engine.sync();
}

/** A gateway app on a free port with `promql` settings (and `engine` ones), built as main.ts builds it. */
async function startGateway(promql: Record<string, unknown> = {}, engine: Record<string, unknown> = {}): Promise<string> {
  const config = loadConfig({
    env: { ...ns.env, ADMIN_PASSWORD, JWT_SECRET, LOG_LEVEL: 'error' },
    overrides: { gateway: { promql, rateLimit: { perPrincipal: 100_000, perAddress: 100_000, loginPerMinute: 100_000 } }, storage: { engine } },
  });
  const logger = createLogger(config.log, { service: 'api-gateway', instance: 'test' });
  const health = new Health('api-gateway', 'test');
  health.setReady(true);
  const deps = await gatewayDeps({ config, pool, redis, bus: new Bus(nc, config.nats.prefix), health, logger }, { maxPoints: 1000, callTimeoutMs: 500 });
  const server = createApp(deps).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** Calls a Prometheus endpoint as Grafana does: GET with a query string, or POST with a form body. */
async function prom(path: string, params: Record<string, string | string[]> = {}, options: { method?: 'GET' | 'POST'; token?: string | null; at?: string } = {}): Promise<{ status: number; body: any; text: string }> {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) for (const v of Array.isArray(value) ? value : [value]) form.append(key, v);
  const token = options.token === undefined ? viewerKey : options.token;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const url = `${options.at ?? base}${path}`;
  const res = options.method === 'POST' ? await fetch(url, { method: 'POST', headers, body: form }) : await fetch(`${url}?${form}`, { headers });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ overrides: QUICK_SYNC, applicationName: 'prometheus-api-test' }));
  other = await createTestNamespace(QUICK_SYNC);
  redis = ns.redis();
  nc = await connect({ servers: ns.config.nats.url });
  await ensureStreams(await nc.jetstreamManager(), new Bus(nc, ns.config.nats.prefix).ns);
  await write(ns, [
    line({ __name__: 'http_requests_total', job: 'api', instance: 'a' }, 1),
    line({ __name__: 'http_requests_total', job: 'api', instance: 'b' }, 2),
    line({ __name__: 'http_requests_total', job: 'web', instance: 'c' }, 5),
    line({ __name__: 'temperature_celsius', room: 'lab' }, 0, 20),
  ]);
  await write(other, [line({ __name__: 'http_requests_total', job: 'secret', instance: 'z' }, 7), line({ __name__: 'secret_only_total', job: 'secret' }, 1)]);
  base = await startGateway();
  const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  const adminToken = ((await login.json()) as { token: string }).token;
  const key = await fetch(`${base}/api-keys`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` }, body: JSON.stringify({ name: 'grafana', role: 'viewer' }) });
  viewerKey = ((await key.json()) as { secret: string }).secret;
  await waitFor(async () => ((await prom('/api/v1/series', { 'match[]': '{__name__=~".+"}', ...RANGE })).body.data?.length === 4 ? true : undefined), 10_000, 'the samples visible through the gateway');
});
afterAll(async () => {
  for (const s of servers) s.close();
  await nc?.close();
  await Promise.all([cleanup?.(), other?.cleanup()]);
});

describe('PromQL queries', () => {
  it('answers an instant query with rate, sum by and arithmetic, in Prometheus JSON', async () => {
    const bySum = await prom('/api/v1/query', { query: 'sum by (job) (rate(http_requests_total[1m]))', time: String(AT) });
    expect(bySum.status).toBe(200);
    expect(bySum.body.status).toBe('success');
    expect(bySum.body.data.resultType).toBe('vector');
    const byJob = Object.fromEntries(bySum.body.data.result.map((r: any) => [r.metric.job, r.value]));
    expect(byJob).toEqual({ api: [AT, '3'], web: [AT, '5'] });

    const arithmetic = await prom('/api/v1/query', { query: 'sum(rate(http_requests_total{job="api"}[1m])) * 2 + 1', time: new Date(AT * 1000).toISOString() });
    expect(arithmetic.body.data.result).toEqual([{ metric: {}, value: [AT, '7'] }]);
    const fahrenheit = await prom('/api/v1/query', { query: 'temperature_celsius * 9 / 5 + 32', time: String(AT) });
    expect(fahrenheit.body.data.result).toEqual([{ metric: { room: 'lab' }, value: [AT, '68'] }]);
    const scalar = await prom('/api/v1/query', { query: '1 + 2', time: String(AT) });
    expect(scalar.body.data).toEqual({ resultType: 'scalar', result: [AT, '3'] });
  });

  it("answers in Prometheus' shapes and counts where the engine's differ: names dropped by functions, scalars as scalars, changes()", async () => {
    const value = async (query: string) => (await prom('/api/v1/query', { query, time: String(AT) })).body.data;
    // The engine keeps the series' name on these; Prometheus drops it on every function but last_over_time.
    for (const query of ['max_over_time(temperature_celsius[5m])', 'round(temperature_celsius)', 'clamp_min(temperature_celsius, 0) > 1']) {
      expect(await value(query), query).toEqual({ resultType: 'vector', result: [{ metric: { room: 'lab' }, value: [AT, '20'] }] });
    }
    expect((await value('last_over_time(temperature_celsius[5m])')).result[0].metric).toEqual({ __name__: 'temperature_celsius', room: 'lab' });
    expect((await value('sum by (room) (max_over_time(temperature_celsius[5m]))')).result).toEqual([{ metric: { room: 'lab' }, value: [AT, '20'] }]);
    expect(await value('time()')).toEqual({ resultType: 'scalar', result: [AT, String(AT)] });
    expect(await value('scalar(sum(temperature_celsius)) * 2')).toEqual({ resultType: 'scalar', result: [AT, '40'] });
    expect(await value('scalar(sum(no_such_metric))')).toEqual({ resultType: 'scalar', result: [AT, 'NaN'] });
    // Four samples in the window, three changes; MetricsQL's own changes() also counts the one into the window.
    const changes = await prom('/api/v1/query', { query: 'changes(http_requests_total{instance="a"}[1m])', time: String(AT + 7) });
    expect(changes.body.data.result).toEqual([{ metric: { job: 'api', instance: 'a' }, value: [AT + 7, '3'] }]);
    // A MetricsQL extension is not PromQL: it goes to the engine as written.
    expect((await value('WITH (t = temperature_celsius) t + 1')).result).toEqual([{ metric: { room: 'lab' }, value: [AT, '21'] }]);
    const range = await prom('/api/v1/query_range', { query: 'round(temperature_celsius)', start: String(AT), end: String(AT + 60), step: '60' });
    expect(range.body.data.result).toEqual([{ metric: { room: 'lab' }, values: [[AT, '20'], [AT + 60, '20']] }]);
  });

  it("computes rate and increase as Prometheus does with storage.engine.rates: prometheus, and as the engine does by default", async () => {
    const extrapolating = await startGateway({}, { rates: 'prometheus' });
    // 50 s into the counters (from 0, one sample every 15 s): four samples in the window, 45 s apart end to end.
    const time = String((T0 + 50_000) / 1000);
    const increase = async (at: string) => (await prom('/api/v1/query', { query: 'increase(http_requests_total{instance="a"}[1m])', time }, { at })).body.data.result[0].value[1];
    // Prometheus extrapolates to the zero point at the first sample and 5 s on to the window's end: 45 + 5 s at 1/s.
    expect(await increase(extrapolating)).toBe('50');
    expect(await increase(base)).toBe('45');
    const rate = await prom('/api/v1/query', { query: 'sum(rate(http_requests_total{job="api"}[1m]))', time }, { at: extrapolating });
    expect(Number(rate.body.data.result[0].value[1])).toBeCloseTo((50 + 100) / 60, 12);
  });

  it("takes a sample or subquery point at its window's start in with storage.engine.windowStart: included, as Prometheus 2 does", async () => {
    const closed = await startGateway({}, { windowStart: 'included' });
    const count = async (at: string, query: string) => (await prom('/api/v1/query', { query, time: String(AT) }, { at })).body.data.result[0].value[1];
    // A sample every 15 s, one at AT − 60 s: the window (AT − 1m, AT] holds four, [AT − 1m, AT] five.
    expect(await count(base, 'count_over_time(http_requests_total{instance="a"}[1m])')).toBe('4');
    expect(await count(closed, 'count_over_time(http_requests_total{instance="a"}[1m])')).toBe('5');
    // A subquery's points lie on its step's grid, and AT − 1m is on it.
    expect(await count(base, 'count_over_time(sum(http_requests_total)[1m:15s])')).toBe('4');
    expect(await count(closed, 'count_over_time(sum(http_requests_total)[1m:15s])')).toBe('5');
  });

  it('answers a range query every step', async () => {
    const start = (T0 + 10 * 60_000) / 1000;
    const res = await prom('/api/v1/query_range', { query: 'sum(rate(http_requests_total[1m]))', start: String(start), end: String(start + 300), step: '60' });
    expect(res.status).toBe(200);
    expect(res.body.data.resultType).toBe('matrix');
    expect(res.body.data.result).toEqual([{ metric: {}, values: [0, 1, 2, 3, 4, 5].map((i) => [start + i * 60, '8']) }]);
    const byInstance = await prom('/api/v1/query_range', { query: 'rate(http_requests_total{job="api"}[2m])', start: String(start), end: String(start + 120), step: '1m' });
    expect(byInstance.body.data.result.map((s: any) => [s.metric, s.values.map((v: any) => v[1])])).toEqual([
      [{ job: 'api', instance: 'a' }, ['1', '1', '1']],
      [{ job: 'api', instance: 'b' }, ['2', '2', '2']],
    ]);
  });

  it('evaluates an instant query at the time asked, now included, and a range at its start, off the step grid too', async () => {
    // The engine's cache moved a time near now 30 s back (-search.latencyOffset) and a range onto the step's grid.
    const now = await prom('/api/v1/query', { query: 'time()' });
    const [at, value] = now.body.data.result as [number, string];
    expect(Math.abs(Number(value) - at)).toBeLessThan(1);
    const off = await prom('/api/v1/query_range', { query: 'time()', start: '1000.5', end: '4000.5', step: '60' });
    expect(off.body.data.result[0].values[0]).toEqual([1000.5, '1000.5']);
    expect(off.body.data.result[0].values).toHaveLength(51);
    // A timeout of a fraction of a millisecond more is cut to whole ones, not a 500.
    expect((await prom('/api/v1/query', { query: 'vector(1)', timeout: '1.001' })).status).not.toBe(500);
  });

  it('answers a POST form exactly as the same GET', async () => {
    const params = { query: 'sum by (job) (rate(http_requests_total[5m]))', start: RANGE.start, end: RANGE.end, step: '300' };
    const get = await prom('/api/v1/query_range', params);
    const post = await prom('/api/v1/query_range', params, { method: 'POST' });
    expect(post.status).toBe(200);
    expect(post.body).toEqual(get.body);
    expect(post.body.data.result).toHaveLength(2);
    for (const path of ['/api/v1/series', '/api/v1/labels', '/api/v1/label/job/values']) {
      const form = { 'match[]': ['http_requests_total{job="api"}', 'temperature_celsius'], ...RANGE };
      expect((await prom(path, form, { method: 'POST' })).body, path).toEqual((await prom(path, form)).body);
    }
  });
});

describe('the namespace label', () => {
  it('appears in no answer, and the label lists hold only this namespace', async () => {
    const series = await prom('/api/v1/series', { 'match[]': 'http_requests_total', ...RANGE });
    expect(series.body.data.sort((a: any, b: any) => a.instance.localeCompare(b.instance))).toEqual([
      { __name__: 'http_requests_total', job: 'api', instance: 'a' },
      { __name__: 'http_requests_total', job: 'api', instance: 'b' },
      { __name__: 'http_requests_total', job: 'web', instance: 'c' },
    ]);
    expect((await prom('/api/v1/labels', RANGE)).body.data.sort()).toEqual(['__name__', 'instance', 'job', 'room']);
    expect((await prom('/api/v1/label/job/values', RANGE)).body.data).toEqual(['api', 'web']);
    expect((await prom('/api/v1/label/__name__/values', RANGE)).body.data).toEqual(['http_requests_total', 'temperature_celsius']);
    expect((await prom('/api/v1/label/tmon_ns/values', RANGE)).body).toEqual({ status: 'success', data: [] });

    const answers = [
      series,
      await prom('/api/v1/labels', { 'match[]': 'http_requests_total', ...RANGE }),
      await prom('/api/v1/query', { query: 'http_requests_total', time: String(AT) }),
      await prom('/api/v1/query', { query: 'rate(http_requests_total[1m])', time: String(AT) }),
      await prom('/api/v1/query_range', { query: 'http_requests_total', ...RANGE, step: '5m' }),
      await prom('/api/v1/query', { query: 'http_requests_total{tmon_ns!=""}', time: String(AT) }),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.text).not.toContain('tmon_ns');
      expect(answer.text).not.toContain(ns.id);
    }
  });

  it("keeps another namespace's series out of reach, even when a matcher names it", async () => {
    const named = `{tmon_ns="${other.id}"}`;
    expect((await prom('/api/v1/query', { query: `http_requests_total${named}`, time: String(AT) })).body.data.result).toEqual([]);
    expect((await prom('/api/v1/query', { query: `count(http_requests_total{tmon_ns=~".+"})`, time: String(AT) })).body.data.result).toEqual([{ metric: {}, value: [AT, '3'] }]);
    expect((await prom('/api/v1/query', { query: 'secret_only_total', time: String(AT) })).body.data.result).toEqual([]);
    expect((await prom('/api/v1/query_range', { query: `sum(rate({__name__=~".+", job="secret"}[1m]))`, ...RANGE, step: '60' })).body.data.result).toEqual([]);
    expect((await prom('/api/v1/series', { 'match[]': named, ...RANGE })).body.data).toEqual([]);
    expect((await prom('/api/v1/series', { 'match[]': '{job="secret"}', ...RANGE })).body.data).toEqual([]);
    expect((await prom('/api/v1/labels', { 'match[]': named, ...RANGE })).body.data).not.toContain('job');
    expect((await prom('/api/v1/label/job/values', { 'match[]': named, ...RANGE })).body.data).toEqual([]);
    // The engine's own filters cannot be smuggled in either.
    const smuggled = await prom('/api/v1/query', { query: 'http_requests_total', time: String(AT), extra_label: `tmon_ns=${other.id}`, 'extra_filters[]': named });
    expect(smuggled.body.data.result).toHaveLength(3);
    const everything = await prom('/api/v1/label/__name__/values', RANGE);
    expect(everything.body.data).not.toContain('secret_only_total');
  });
});

describe('failures', () => {
  it("answer in Prometheus' error shape and status", async () => {
    const syntax = await prom('/api/v1/query', { query: 'sum(rate(http_requests_total[1m])', time: String(AT) });
    expect(syntax.status).toBe(400);
    expect(syntax.body).toEqual({ status: 'error', errorType: 'bad_data', error: expect.stringMatching(/^invalid parameter "query": /) });
    const postSyntax = await prom('/api/v1/query_range', { query: 'rate(http_requests_total[5m]', ...RANGE, step: '60' }, { method: 'POST' });
    expect(postSyntax.status).toBe(400);
    expect(postSyntax.body.errorType).toBe('bad_data');

    const badMatch = await prom('/api/v1/series', { 'match[]': 'http_requests_total{', ...RANGE });
    expect(badMatch.status).toBe(400);
    expect(badMatch.body).toMatchObject({ status: 'error', errorType: 'bad_data', error: expect.stringMatching(/^invalid parameter "match\[\]": /) });

    // A string is its own answer, as Prometheus gives it (the engine answered no series).
    const text = await prom('/api/v1/query', { query: '"foo"', time: String(AT) });
    expect(text.body).toEqual({ status: 'success', data: { resultType: 'string', result: [AT, 'foo'] } });

    // An evaluation error: the engine quotes the clashing label sets, which must not show the namespace label.
    const clash = await prom('/api/v1/query', { query: 'http_requests_total + on(job) http_requests_total', time: String(AT) });
    expect(clash.status).toBe(422);
    expect(clash.body).toMatchObject({ status: 'error', errorType: 'execution', error: expect.stringContaining('duplicate time series') });
    expect(clash.text).not.toContain('tmon_ns');
    expect(clash.text).not.toContain(ns.id);

    const cases: [string, Record<string, string>, string][] = [
      ['/api/v1/query', {}, 'invalid parameter "query": no expression found in input'],
      ['/api/v1/query', { query: 'up', time: 'yesterday' }, 'invalid parameter "time": cannot parse "yesterday" to a valid timestamp'],
      // Dates that do not exist, which Date.parse rolls over to the next month or day.
      ['/api/v1/query', { query: 'up', time: '2026-02-30T00:00:00Z' }, 'invalid parameter "time": cannot parse "2026-02-30T00:00:00Z" to a valid timestamp'],
      ['/api/v1/query', { query: 'up', time: '2026-03-01T24:00:00Z' }, 'invalid parameter "time": cannot parse "2026-03-01T24:00:00Z" to a valid timestamp'],
      ['/api/v1/query_range', { query: 'up', end: RANGE.end, step: '60' }, 'invalid parameter "start": cannot parse "" to a valid timestamp'],
      ['/api/v1/query_range', { query: 'up', start: RANGE.end, end: RANGE.start, step: '60' }, 'end timestamp must not be before start time'],
      ['/api/v1/query_range', { query: 'up', ...RANGE, step: 'often' }, 'invalid parameter "step": cannot parse "often" to a valid duration'],
      ['/api/v1/query_range', { query: 'up', ...RANGE, step: '0' }, 'zero or negative query resolution step widths are not accepted. Try a positive integer'],
      ['/api/v1/series', RANGE, 'no match[] parameter provided'],
      ['/api/v1/label/bad-name/values', {}, 'invalid label name: "bad-name"'],
      ['/api/v1/query', { query: 'up', timeout: 'soon' }, 'invalid parameter "timeout": cannot parse "soon" to a valid duration'],
      // Of a type a range query cannot chart, as Prometheus refuses them.
      ['/api/v1/query_range', { query: '"foo"', ...RANGE, step: '60' }, 'invalid expression type "string" for range query, must be Scalar or instant Vector'],
      ['/api/v1/query_range', { query: 'up[5m]', ...RANGE, step: '60' }, 'invalid expression type "range vector" for range query, must be Scalar or instant Vector'],
    ];
    for (const [path, params, error] of cases) {
      const res = await prom(path, params);
      expect(res.status, `${path} ${JSON.stringify(params)}`).toBe(400);
      expect(res.body, `${path} ${JSON.stringify(params)}`).toEqual({ status: 'error', errorType: 'bad_data', error });
    }
  });

  it('answers in Prometheus’ error shape where no handler of its own did, and refuses a query longer than the engine takes before parsing it', async () => {
    const long = await prom('/api/v1/query', { query: `label_join(${Array.from({ length: 1000 }, () => 'max_over_time(a[1m])').join(',')})`, time: String(AT) }, { method: 'POST' });
    expect(long.status).toBe(400);
    expect(long.body).toEqual({ status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": the query is 21011 characters long, more than the 16384 taken' });
    const unknown = await prom('/api/v1/rules');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ status: 'error', errorType: 'not_found', error: 'no endpoint GET /api/v1/rules' });
    // More form fields than the body parser takes: refused before any handler, in the same shape.
    const fields = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`f${i}`, '1']));
    const crowded = await prom('/api/v1/query', { query: '1', ...fields }, { method: 'POST' });
    expect(crowded.status).toBe(413);
    expect(crowded.body).toMatchObject({ status: 'error', errorType: 'bad_data' });
    const metadata = await prom('/api/v1/metadata', { limit: 'abc' });
    expect(metadata.status).toBe(400);
    expect(metadata.body).toEqual({ status: 'error', errorType: 'bad_data', error: 'limit must be a number' });
    expect((await prom('/api/v1/metadata', { limit: '-1' })).status).toBe(200);
  });

  it('refuses a range query of more than 11,000 points per series before asking the engine', async () => {
    const res = await prom('/api/v1/query_range', { query: 'http_requests_total', start: '0', end: '100000', step: '1' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ status: 'error', errorType: 'bad_data', error: 'exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)' });
    // 11,000 steps are still taken.
    expect((await prom('/api/v1/query_range', { query: 'http_requests_total', start: '0', end: '11000', step: '1' })).status).toBe(200);
  });

  it('refuses answers past maxSamples and queries past the timeout, with the settings named', async () => {
    const small = await startGateway({ maxSamples: 10 });
    const range = { query: 'rate(http_requests_total[1m])', start: String(AT), end: String(AT + 300), step: '60' };
    const tooMany = await prom('/api/v1/query_range', range, { at: small });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body).toMatchObject({ status: 'error', errorType: 'execution', error: expect.stringContaining('gateway.promql.maxSamples=10') });
    expect(tooMany.body.error).toMatch(/^query processing would load too many samples into memory in query execution/);
    expect((await prom('/api/v1/query', { query: 'sum(http_requests_total)', time: String(AT) }, { at: small })).status).toBe(200);
    // Counted exactly, point by point: ten pass and eleven are refused, both answers far under the 640 bytes read at most.
    const points = (n: number) => prom('/api/v1/query_range', { query: 'vector(1)', start: String(AT), end: String(AT + 60 * (n - 1)), step: '60' }, { at: small });
    expect((await points(10)).body.data.result[0].values).toHaveLength(10);
    const eleven = await points(11);
    expect(eleven.status).toBe(422);
    expect(eleven.body.error).toContain('the answer holds 11 samples');
    // A series list holds no samples: an answer too large is told by its size, and how to narrow the request.
    const tiny = await startGateway({ maxSamples: 2 });
    const list = await prom('/api/v1/series', { 'match[]': '{__name__=~".+"}', ...RANGE }, { at: tiny });
    expect(list.status).toBe(422);
    expect(list.body.error).toMatch(/^the answer is larger than 128 bytes .*narrow match\[\], start and end \(limit cuts the answer only once the engine gave it whole\)$/);

    // Every series at 10,588 points: milliseconds of the engine's work and a megabyte to read, far past 1 ms.
    const heavy = { query: '{__name__=~"http_requests_total|temperature_celsius"}', ...RANGE, step: '0.17' };
    const hasty = await startGateway({ timeout: '1ms' });
    const late = await prom('/api/v1/query_range', heavy, { at: hasty });
    expect(late.status).toBe(503);
    expect(late.body).toMatchObject({ status: 'error', errorType: 'timeout', error: expect.stringContaining('1 ms') });
    expect((await prom('/api/v1/query_range', { ...heavy, timeout: '1h' }, { at: hasty })).status).toBe(503);
    // A request may shorten the timeout, never lengthen it.
    expect((await prom('/api/v1/query_range', heavy)).status).toBe(200);
    expect((await prom('/api/v1/query_range', { ...heavy, timeout: '0.001' })).status).toBe(503);
  });
});

describe('access and the informational endpoints', () => {
  it('take a viewer API key, refuse a missing or wrong token with 401', async () => {
    expect((await prom('/api/v1/query', { query: '1', time: String(AT) })).status).toBe(200);
    for (const path of ['/api/v1/query', '/api/v1/query_range', '/api/v1/series', '/api/v1/labels', '/api/v1/label/job/values', '/api/v1/metadata', '/api/v1/status/buildinfo', '/api/v1/query_exemplars']) {
      for (const method of ['GET', 'POST'] as const) {
        expect((await prom(path, { query: '1' }, { method, token: null })).status, `${method} ${path}`).toBe(401);
        expect((await prom(path, { query: '1' }, { method, token: 'tmk_aaaaaaaaaaaa_not-a-key' })).status, `${method} ${path}`).toBe(401);
      }
    }
  });

  it("answer buildinfo as a Prometheus 2.42 naming the suite, no metadata and no exemplars", async () => {
    const build = await prom('/api/v1/status/buildinfo');
    expect(build.status).toBe(200);
    expect(build.body).toMatchObject({ status: 'success', data: { version: '2.42.0', application: 'Terminusa Monitoring' } });
    expect(build.body.data.features).toBeUndefined();
    expect((await prom('/api/v1/metadata', { metric: 'http_requests_total' })).body).toEqual({ status: 'success', data: {} });
    expect((await prom('/api/v1/query_exemplars', { query: 'http_requests_total', ...RANGE }, { method: 'POST' })).body).toEqual({ status: 'success', data: [] });
  });

  it('cuts listings at limit with Prometheus\' warning', async () => {
    const res = await prom('/api/v1/label/__name__/values', { ...RANGE, limit: '1' });
    expect(res.body).toEqual({ status: 'success', data: ['http_requests_total'], warnings: ['results truncated due to limit'] });
    expect((await prom('/api/v1/series', { 'match[]': 'http_requests_total', ...RANGE, limit: '2' })).body.data).toHaveLength(2);
  });
});
