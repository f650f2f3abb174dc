import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { Bus, ensureStreams, type IngestSample } from '@terminusa/bus';
import { createLogger } from '@terminusa/runtime';
import { freePort, ingestBodySamples, useTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';
import { createCollectorMetrics, type CollectorMetrics } from '../collector-metrics.ts';
import { samplePublisher } from '../publish-samples.ts';
import { startCollectorJobs, type CollectorJobs } from './collector-jobs.ts';

const EXPOSITION = `# TYPE app_requests_total counter
app_requests_total{route="/a",instance="pod-1"} 7
# TYPE app_queue_depth gauge
app_queue_depth 3
app_queue_depth{kind="broken"} NaN
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{le="0.1"} 4
app_latency_seconds_bucket{le="+Inf"} 5
app_latency_seconds_sum 0.9
app_latency_seconds_count 5
`;

interface Received {
  source: string;
  sample: IngestSample;
  at: number;
}

let ns: TestNamespace;
let nc: NatsConnection;
let jobs: CollectorJobs;
let metrics: CollectorMetrics;
let registry: Registry;
/** The namespace's settings: the targets and probes the first `beforeAll` starts. */
let overrides: Record<string, unknown>;
const servers: Server[] = [];
const received: Received[] = [];
/** Whether the `fickle` target still exposes its lobby series; closing the lobby takes it out of the next scrape. */
let lobbyOpen = true;
const GUARD_TOKEN = 'token-of-a-guarded-target';
/** Where the guarded target's credentials file is written. */
const secrets = mkdtempSync(join(tmpdir(), 'tmon-collector-credentials-'));

async function listen(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const samples = (source: string, name: string, tags: Record<string, string>) =>
  received.filter((r) => r.source === source && r.sample.name === name && Object.entries(tags).every(([k, v]) => r.sample.tags?.[k] === v));
const latest = (source: string, name: string, tags: Record<string, string>) => waitFor(() => samples(source, name, tags).at(-1)?.sample, 10_000, `${name} ${JSON.stringify(tags)}`);

beforeAll(async () => {
  const good = await listen((req, res) => {
    if (req.url === '/metrics') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(EXPOSITION);
    else if (req.url === '/healthz') res.writeHead(200).end('ok');
    else if (req.url === '/status') res.writeHead(200).end('<html>all systems operational</html>');
    else res.writeHead(404).end();
  });
  const fickle = await listen((_req, res) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`lobby_count 1\n${lobbyOpen ? 'lobby_players{lobby="l1"} 3\n' : ''}`));
  // Wants a bearer token, as the suite's own ops servers do: the collector reads it from the target's credentials file.
  const guarded = await listen((req, res) =>
    req.headers.authorization === `Bearer ${GUARD_TOKEN}` ? res.writeHead(200).end('guarded_work_total 4\n') : res.writeHead(401).end(),
  );
  writeFileSync(join(secrets, 'token'), `${GUARD_TOKEN}\n`);
  // Answers more than the scrape limits take: 9 KB of bytes, or 300 samples.
  const huge = await listen((_req, res) => res.writeHead(200).end(`big_label{v="${'x'.repeat(9000)}"} 1\n`));
  const many = await listen((_req, res) => res.writeHead(200).end(Array.from({ length: 300 }, (_, i) => `many_series{i="${i}"} 1`).join('\n')));
  // Answers only after three seconds, well past the one-second timeout.
  const slow = await listen((_req, res) => void setTimeout(() => res.writeHead(200).end('slow 1\n'), 3000).unref());
  const tcp = createTcpServer((socket) => socket.end());
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const tcpPort = (tcp.address() as AddressInfo).port;
  tcp.unref();
  const closedPort = await freePort();

  overrides = {
    loadBalance: { timeout: 1 },
    collection: {
      intervals: { app: 1, custom: 1 },
      mode: 'jobs',
      scrapeSelf: false,
      scrapeLimits: { bodyBytes: 8192, samples: 200 },
      tags: { region: 'test' },
      targets: [
        { name: 'good', url: `${good}/metrics`, healthPath: '/healthz', tags: { team: 'core' } },
        { name: 'down', url: `http://127.0.0.1:${closedPort}/metrics` },
        { name: 'slow', url: `${slow}/metrics` },
        { name: 'fickle', url: `${fickle}/metrics` },
        { name: 'guarded', url: `${guarded}/metrics`, credentialsFile: join(secrets, 'token') },
        { name: 'guarded-unreadable', url: `${guarded}/metrics`, credentialsFile: join(secrets, 'missing') },
        { name: 'guarded-anonymous', url: `${guarded}/metrics` },
        { name: 'huge', url: `${huge}/metrics` },
        { name: 'many', url: `${many}/metrics` },
      ],
      probes: [
        { kind: 'http', name: 'status-page', url: `${good}/status`, bodyMatch: 'operational', tags: { tier: 'web' } },
        { kind: 'http', name: 'status-wrong-body', url: `${good}/status`, bodyMatch: '^maintenance' },
        { kind: 'http', name: 'missing-page', url: `${good}/nope` },
        { kind: 'tcp', name: 'tcp-open', host: '127.0.0.1', port: tcpPort },
        { kind: 'tcp', name: 'tcp-closed', host: '127.0.0.1', port: closedPort },
      ],
    },
  };
});

// Created once the targets listen: the overrides name their ports.
useTestNamespace((opened) => (ns = opened), () => overrides);
beforeAll(async () => {
  nc = await connect({ servers: ns.config.nats.url });
  const bus = new Bus(nc, ns.config.nats.prefix);
  await ensureStreams(await nc.jetstreamManager(), bus.ns);
  // A core subscription sees what the collector publishes to the JetStream ingest stream.
  nc.subscribe(`${ns.id}.metrics.ingest.>`, {
    callback: (_err, msg) => {
      const source = msg.subject.split('.').at(-1)!;
      for (const sample of ingestBodySamples(msg.data)) received.push({ source, sample, at: Date.now() });
    },
  });
  registry = new Registry();
  metrics = createCollectorMetrics(registry);
  const logger = createLogger(ns.config.log, { service: 'collector', instance: 'jobs-test' });
  jobs = await startCollectorJobs({ config: ns.config, bus, redis: ns.redis(), logger, metrics, publish: samplePublisher(bus, () => ({ samples: ns.config.core.batchSize, bytes: ns.config.ingest.maxMessageBytes })) });
});

afterAll(async () => {
  await jobs?.stop();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await nc?.close();
  rmSync(secrets, { recursive: true, force: true });
});

describe('app scrapes', () => {
  it('turns a target exposition into samples tagged with job and instance, with up=1, duration and health', async () => {
    const up = await latest('scrape', 'up', { job: 'good' });
    expect(up.value).toBe(1);
    expect(up.tags).toMatchObject({ job: 'good', team: 'core', region: 'test', instance: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    const duration = (await latest('scrape', 'scrape_duration_seconds', { job: 'good' })).value;
    expect(duration).toBeGreaterThan(0);
    expect(duration).toBeLessThan(1);
    expect((await latest('scrape', 'scrape_samples_scraped', { job: 'good' })).value).toBe(7);
    expect((await latest('scrape', 'target_healthy', { job: 'good' })).value).toBe(1);
    expect((await latest('scrape', 'target_health_latency_seconds', { job: 'good' })).value).toBeLessThan(1);

    const requests = await latest('scrape', 'app_requests_total', { job: 'good' });
    // The target's own `instance` label is kept as exported_instance, as Prometheus does.
    expect(requests).toMatchObject({ value: 7, tags: { route: '/a', exported_instance: 'pod-1', instance: up.tags!.instance, job: 'good' } });
    expect((await latest('scrape', 'app_latency_seconds_bucket', { job: 'good', le: '+Inf' })).value).toBe(5);
    expect((await latest('scrape', 'app_latency_seconds_sum', { job: 'good' })).value).toBe(0.9);
    expect(samples('scrape', 'app_queue_depth', { kind: 'broken' })).toEqual([]);
    expect((await latest('scrape', 'scrape_samples_dropped', { job: 'good' })).value).toBe(1);
    const counted = await registry.getSingleMetricAsString('tmon_collector_scrape_samples_dropped_total');
    expect(counted).toMatch(/target="good",reason="nonfinite"\} [1-9]/);
  });

  it('shows a target the bearer token of its credentials file, and fails the scrape when the file cannot be read', async () => {
    expect((await latest('scrape', 'up', { job: 'guarded' })).value).toBe(1);
    expect((await latest('scrape', 'guarded_work_total', { job: 'guarded' })).value).toBe(4);
    expect((await latest('scrape', 'up', { job: 'guarded-unreadable' })).value).toBe(0);
    expect((await latest('scrape', 'up', { job: 'guarded-anonymous' })).value).toBe(0);
    expect(samples('scrape', 'guarded_work_total', { job: 'guarded-unreadable' })).toEqual([]);
  });

  it('marks a series gone from the scrape stale, once, as Prometheus does', async () => {
    await latest('scrape', 'lobby_players', { job: 'fickle' });
    lobbyOpen = false;
    const marker = await waitFor(() => samples('scrape', 'lobby_players', { job: 'fickle' }).find((r) => r.sample.stale)?.sample, 10_000, 'the staleness marker');
    expect(marker).toEqual({ name: 'lobby_players', stale: true, ts: expect.any(Number), tags: expect.objectContaining({ job: 'fickle', lobby: 'l1' }) });
    // Two more scrapes of the target, then the count: the marker came once, the series still exposed got none.
    const seen = samples('scrape', 'up', { job: 'fickle' }).length;
    await waitFor(() => (samples('scrape', 'up', { job: 'fickle' }).length >= seen + 2 ? true : undefined), 10_000, 'two more scrapes');
    expect(samples('scrape', 'lobby_players', { job: 'fickle' }).filter((r) => r.sample.stale)).toHaveLength(1);
    expect(samples('scrape', 'lobby_count', { job: 'fickle' }).filter((r) => r.sample.stale)).toEqual([]);
  });

  it('records up=0 and target_healthy=0 for a target that is down', async () => {
    expect((await latest('scrape', 'up', { job: 'down' })).value).toBe(0);
    expect((await latest('scrape', 'target_healthy', { job: 'down' })).value).toBe(0);
    expect((await latest('scrape', 'scrape_samples_scraped', { job: 'down' })).value).toBe(0);
    expect(await registry.getSingleMetricAsString('tmon_collector_scrapes_total')).toMatch(/target="down",outcome="down"\} [1-9]/);
  });

  it('fails a scrape whose answer is larger, or holds more samples, than the scrape limits take', async () => {
    for (const job of ['huge', 'many']) {
      expect((await latest('scrape', 'up', { job })).value, job).toBe(0);
      expect((await latest('scrape', 'scrape_samples_scraped', { job })).value, job).toBe(0);
    }
    expect(samples('scrape', 'many_series', {})).toEqual([]);
  });

  it('gives up on a slow target at the timeout without delaying the good target', async () => {
    const up = await latest('scrape', 'up', { job: 'slow' });
    expect(up.value).toBe(0);
    const duration = (await latest('scrape', 'scrape_duration_seconds', { job: 'slow' })).value;
    expect(duration).toBeGreaterThanOrEqual(0.95);
    expect(duration).toBeLessThan(2);

    // While a scrape of the slow target is in flight, a scrape of the good one starts after it and arrives before it:
    // a scrape queued behind the slow one could only start once the slow one gave up.
    const overlapping = await waitFor(() => {
      for (const slowScrape of samples('scrape', 'up', { job: 'slow' })) {
        const good = samples('scrape', 'up', { job: 'good' }).find((r) => r.sample.ts! >= slowScrape.sample.ts! && r.at < slowScrape.at);
        if (good) return { slowScrape, good };
      }
      return undefined;
    }, 15_000, 'a scrape of the good target done while the slow one was in flight');
    expect(overlapping.slowScrape.sample.value).toBe(0);
    expect(overlapping.good.sample.value).toBe(1);
  });
});

describe('custom probes', () => {
  it('records an HTTP probe whose body matches as a success, with its status and duration', async () => {
    const tags = { probe: 'status-page', tier: 'web', region: 'test' };
    expect((await latest('probe', 'probe_success', tags)).value).toBe(1);
    expect((await latest('probe', 'probe_http_status_code', tags)).value).toBe(200);
    expect((await latest('probe', 'probe_body_match', tags)).value).toBe(1);
    expect((await latest('probe', 'probe_duration_seconds', tags)).value).toBeLessThan(1);
    expect(samples('probe', 'probe_tls_cert_days_left', tags)).toEqual([]);
  });

  it('fails an HTTP probe on a body mismatch or an unexpected status', async () => {
    expect((await latest('probe', 'probe_success', { probe: 'status-wrong-body' })).value).toBe(0);
    expect((await latest('probe', 'probe_body_match', { probe: 'status-wrong-body' })).value).toBe(0);
    expect((await latest('probe', 'probe_success', { probe: 'missing-page' })).value).toBe(0);
    expect((await latest('probe', 'probe_http_status_code', { probe: 'missing-page' })).value).toBe(404);
    expect(samples('probe', 'probe_body_match', { probe: 'missing-page' })).toEqual([]);
  });

  it('records TCP connects: success to a listening port, failure to a closed one', async () => {
    expect((await latest('probe', 'probe_success', { probe: 'tcp-open' })).value).toBe(1);
    expect((await latest('probe', 'probe_duration_seconds', { probe: 'tcp-open' })).value).toBeLessThan(1);
    expect((await latest('probe', 'probe_success', { probe: 'tcp-closed' })).value).toBe(0);
    expect(await registry.getSingleMetricAsString('tmon_collector_probes_total')).toMatch(/probe="tcp-closed",outcome="failure"\} [1-9]/);
  });

  it('counts the jobs it ran by kind', async () => {
    const text = await registry.getSingleMetricAsString('tmon_collector_jobs_run_total');
    expect(text).toMatch(/kind="scrape"\} [1-9]/);
    expect(text).toMatch(/kind="probe"\} [1-9]/);
  });
});

describe('a target removed from the configuration', () => {
  it('has its series marked stale once, as Prometheus does when a target leaves', async () => {
    await latest('scrape', 'lobby_count', { job: 'fickle' });
    const original = ns.config;
    const changes = await jobs.applyConfig({ ...original, collection: { ...original.collection, targets: original.collection.targets.filter((t) => t.name !== 'fickle') } });
    try {
      expect(changes.removed).toEqual(['scrape:fickle']);
      const markers = await waitFor(() => {
        const stale = samples('scrape', 'lobby_count', { job: 'fickle' }).filter((r) => r.sample.stale);
        return stale.length > 0 ? stale : undefined;
      }, 10_000, 'the removed target’s markers');
      expect(markers).toHaveLength(1);
      expect(samples('scrape', 'up', { job: 'fickle' }).filter((r) => r.sample.stale)).toHaveLength(1);
      // Another sync removes nothing and marks nothing again.
      expect((await jobs.applyConfig({ ...original, collection: { ...original.collection, targets: original.collection.targets.filter((t) => t.name !== 'fickle') } })).removed).toEqual([]);
      expect(samples('scrape', 'lobby_count', { job: 'fickle' }).filter((r) => r.sample.stale)).toHaveLength(1);
    } finally {
      await jobs.applyConfig(original);
    }
  });
});

describe('a reload whose schedulers cannot be made', () => {
  it('is refused, naming the target, and the schedule it would have replaced keeps running and being checked', async () => {
    const original = ns.config;
    // `.url()` takes these, but their origin is "null": there is nothing to put the health path on.
    for (const url of ['htp://app:9100/metrics', 'file:///metrics']) {
      const next = { ...original, collection: { ...original.collection, targets: [...original.collection.targets.filter((t) => t.name !== 'good'), { name: 'no-origin', url, healthPath: '/health', tags: {} }] } };
      const refused = await jobs.applyConfig(next).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      // Taken before it was refused, it made every later check fail, and so the schedule was never repaired again.
      const checked = await jobs.check();
      expect(checked.added).toEqual([]);
      expect(checked.removed).toEqual([]);
      expect(refused?.message).toBe(`collection target no-origin: ${url} is not an http or https URL`);
    }
    const seen = samples('scrape', 'up', { job: 'good' }).length;
    await waitFor(() => (samples('scrape', 'up', { job: 'good' }).length >= seen + 2 ? true : undefined), 10_000, 'the kept target scraped twice more');
    expect(samples('scrape', 'up', { job: 'no-origin' })).toEqual([]);
  });
});
