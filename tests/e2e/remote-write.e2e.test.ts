import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { connect, type NatsConnection } from 'nats';
import { Bus, ensureConsumer } from '@terminusa/bus';
import { FAILED, RETRIED, selfMetrics, startPrometheus, startServiceProcess, startSuite, waitFor, type PrometheusProcess, type RunningSuite, type ServiceProcess } from '@terminusa/testkit';

// Debian's Prometheus scrapes an exporter every second and remote-writes to the gateway, whose samples go
// through the processor and the storage into the engine: what Prometheus holds, the suite holds, once, through
// a SIGKILL of the gateway (Prometheus retries what was not acknowledged).
let suite: RunningSuite;
let prometheus: PrometheusProcess | undefined;
let exporter: Server;
let gateway: ServiceProcess | undefined;
let scrapes = 0;
/** Whether the exporter still exposes the lobby's series; a lobby closing is a series gone from the next scrape. */
let lobbyOpen = true;

beforeAll(async () => {
  suite = await startSuite({ services: ['processor', 'storage'] });
  exporter = createServer((_req, res) => {
    scrapes++;
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    const lobby = lobbyOpen ? `# TYPE rw_lobby_players gauge\nrw_lobby_players{lobby="l1"} ${scrapes % 5}\n` : '';
    res.end(`# TYPE rw_logins_total counter\nrw_logins_total{zone="eu"} ${scrapes * 10}\n# TYPE rw_players gauge\nrw_players{zone="eu"} ${scrapes % 7}.5\n${lobby}`);
  });
  await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
  const key = await suite.apiKey('prometheus-eu', 'producer');
  const target = `127.0.0.1:${(exporter.address() as { port: number }).port}`;
  prometheus = await startPrometheus(`
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: game
    static_configs: [{ targets: ['${target}'] }]
remote_write:
  - url: ${suite.base}/api/v1/write
    authorization: { type: Bearer, credentials: ${key} }
    queue_config: { batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }
`);
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  gateway?.kill('SIGKILL');
  exporter?.close();
  await suite?.stop();
});

/** Every sample of `selector` in the engine, as `ts=value`. */
async function ours(selector: string): Promise<string[]> {
  const engine = new VictoriaMetrics(suite.ns.config.storage.engine);
  const series = await engine.exportAll(selector, 0, Date.now() + 60_000);
  return series.flatMap((s) => s.timestamps.map((ts, i) => `${ts}=${s.values[i]}`)).sort();
}

/** Every sample Prometheus holds of `selector` up to `until` (epoch ms), as `ts=value`. */
async function theirs(selector: string, until: number): Promise<string[]> {
  const url = `${prometheus!.url}/api/v1/query?${new URLSearchParams({ query: `${selector}[1h]`, time: String(until / 1000) })}`;
  const body = (await (await fetch(url)).json()) as { data: { result: { values: [number, string][] }[] } };
  return body.data.result.flatMap((r) => r.values.map(([t, v]) => `${Math.round(t * 1000)}=${Number(v)}`)).sort();
}

describe('Prometheus remote_write into the suite', () => {
  it('stores what Prometheus scraped, each sample once, with job and instance as tags, through a gateway crash', async () => {
    const selector = 'rw_logins_total{job="game",zone="eu"}';
    await waitFor(async () => ((await ours(selector)).length >= 5 ? true : undefined), 60_000, 'five remote-written samples stored', 250);

    // The gateway dies mid-stream and comes back; Prometheus holds what was not acknowledged and sends it again.
    suite.procs[0]!.kill('SIGKILL');
    await suite.procs[0]!.exited;
    const down = scrapes;
    await waitFor(async () => (scrapes >= down + 3 ? true : undefined), 30_000, 'scrapes while the gateway is down', 100);
    gateway = startServiceProcess('api-gateway', suite.env);
    const restartedAt = Date.now();
    await waitFor(async () => ((await ours(selector)).some((s) => Number(s.split('=')[0]) > restartedAt) ? true : undefined), 60_000, 'samples after the restart', 250);

    const stored = await ours(selector);
    const last = Math.max(...stored.map((s) => Number(s.split('=')[0])));
    const scraped = await theirs(selector, last);
    expect(scraped.length).toBeGreaterThanOrEqual(8);
    expect(stored).toEqual(scraped);
    const engine = new VictoriaMetrics(suite.ns.config.storage.engine);
    const [series] = await engine.exportAll(selector, 0, Date.now());
    expect(series!.labels).toMatchObject({ __name__: 'rw_logins_total', job: 'game', zone: 'eu', instance: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
  }, 180_000);

  it('stops answering for a series once Prometheus marks it stale, as Prometheus does', async () => {
    const query = async (expr: string) => (await suite.api(`/api/v1/query?${new URLSearchParams({ query: expr })}`)).body.data.result as { metric: Record<string, string> }[];
    await waitFor(async () => ((await query('rw_lobby_players')).length === 1 ? true : undefined), 60_000, 'the lobby series answered', 250);
    lobbyOpen = false;
    // Prometheus writes a staleness marker at the first scrape without the series. The engine answers a query for
    // "now" as of 30 s ago (its -search.latencyOffset), so absent() turns true about 30 s later; without the marker
    // the engine would still find the last sample inside an instant query's lookbehind window for five minutes.
    await waitFor(async () => ((await query('absent(rw_lobby_players)')).length === 1 ? true : undefined), 90_000, 'absent() of the stopped series', 250);
    expect(await query('rw_lobby_players')).toEqual([]);
    expect(await query('rw_players')).toHaveLength(1);
    // The marker is no sample: what the series held is what Prometheus scraped.
    const stored = await ours('rw_lobby_players');
    expect(stored.length).toBeGreaterThan(0);
    expect(stored).toEqual(await theirs('rw_lobby_players', Date.now()));
  }, 180_000);
});

describe('Prometheus remote_write while the pipeline is behind', () => {
  let behind: RunningSuite | undefined;
  let sender: PrometheusProcess | undefined;
  let busyExporter: Server | undefined;
  let nc: NatsConnection | undefined;

  afterAll(async () => {
    await sender?.stop();
    busyExporter?.close();
    await nc?.close();
    await behind?.stop();
  });

  // Prometheus 2 drops a batch answered 429 as a non-recoverable error (unless `retry_on_http_429`) and retries a
  // 5xx: the gateway pushes back on remote_write with 503, so that the samples it refuses come again.
  it('is pushed back with 503 and retries: nothing Prometheus scraped is dropped', async () => {
    behind = await startSuite({ services: ['storage'], env: { TMON_INGEST__MAX_BACKLOG_MESSAGES: '2' } });
    // The processor's consumer, with no processor yet: every accepted request stays in its backlog.
    nc = await connect({ servers: behind.ns.config.nats.url });
    await ensureConsumer(await nc.jetstreamManager(), new Bus(nc, behind.ns.config.nats.prefix).ns, 'processor', { ackWaitSeconds: 30, core: behind.ns.config.core });
    let n = 0;
    busyExporter = createServer((_req, res) => {
      n++;
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(`rw_behind_a ${n}\nrw_behind_b ${n * 2}\n`);
    });
    await new Promise<void>((resolve) => busyExporter!.listen(0, '127.0.0.1', resolve));
    const key = await behind.apiKey('prometheus-behind', 'producer');
    const viewer = await behind.apiKey('behind-reader', 'viewer');
    // Seven samples a scrape (two series, up and four scrape_* series: the names below) in batches of three.
    sender = await startPrometheus(`
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: behind
    static_configs: [{ targets: ['127.0.0.1:${(busyExporter.address() as { port: number }).port}'] }]
remote_write:
  - url: ${behind.base}/api/v1/write
    authorization: { type: Bearer, credentials: ${key} }
    queue_config: { max_samples_per_send: 3, batch_send_deadline: 100ms, min_backoff: 100ms, max_backoff: 1s }
`);
    await waitFor(async () => (((await selfMetrics(sender!.url)).get(RETRIED) ?? 0) > 0 ? true : undefined), 60_000, 'Prometheus retrying refused batches', 250);
    await behind.startServices(['processor']);
    await waitFor(async () => (n >= 4 ? true : undefined), 30_000, 'four scrapes', 100);
    const until = Date.now() - 1000;
    const held = async (url: string, headers: Record<string, string>) => {
      // Per name: count_over_time drops the names, and up and the scrape_* series share their labels.
      const names = ['rw_behind_a', 'rw_behind_b', 'up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added'];
      const query = new URLSearchParams({ query: names.map((name) => `sum(count_over_time(${name}{job="behind"}[10m]))`).join(' + '), time: String(until / 1000) });
      const res = await fetch(`${url}/api/v1/query?${query}`, { headers });
      if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      return Number(body.data.result[0]?.value[1] ?? 0);
    };
    const scraped = await held(sender.url, {});
    expect(scraped).toBeGreaterThanOrEqual(14);
    // The engine shows a sample 30 s after its time (-search.latencyOffset).
    await waitFor(async () => ((await held(behind!.base, { authorization: `Bearer ${viewer}` })) === scraped ? true : undefined), 120_000, `the ${scraped} samples Prometheus scraped, in the suite`, 1000);
    expect((await selfMetrics(sender.url)).get(FAILED)).toBe(0);
  }, 240_000);
});
