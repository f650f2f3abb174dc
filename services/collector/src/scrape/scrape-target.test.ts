import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapeTarget } from './scrape-target.ts';

let server: Server;
let port: number;
/** The Accept header of the last scrape of `/openmetrics`. */
let acceptAsked: string | undefined;
/** Seconds since the epoch that the OpenMetrics answer gives as its samples' time, with a fraction. */
const OM_SECONDS = Math.floor(Date.now() / 1000) - 30;
const OPENMETRICS = [
  '# TYPE build info',
  'build_info{version="1.2.3"} 1',
  '# TYPE feature stateset',
  'feature{feature="a"} 1',
  'feature{feature="b"} 0',
  '# TYPE queue_bytes gaugehistogram',
  'queue_bytes_bucket{le="1024"} 3',
  'queue_bytes_bucket{le="+Inf"} 5',
  'queue_bytes_gcount 5',
  'queue_bytes_gsum 4096',
  '# TYPE mystery unknown',
  'mystery 7',
  '# TYPE jobs counter',
  '# UNIT jobs_seconds seconds',
  `jobs_total 12 ${OM_SECONDS}.25 # {trace_id="abc"} 1 ${OM_SECONDS}`,
  `jobs_created ${OM_SECONDS - 600}`,
  '# EOF',
  '',
].join('\n');
/** The processor's default tag limits (ingest.maxTags, ingest.maxTagValueLength). */
const TAG_LIMITS = { maxTags: 32, maxTagValueLength: 256 };
/** A label name past the tag key limit (a 600 KB one made every message of its scrape, `up` too, too large to publish). */
const LONG_LABEL = 'l'.repeat(600_000);

beforeAll(async () => {
  // Loopback only: reached by its host's name only when the scrape dials loopback for it.
  server = createServer((req, res) => {
    if (req.url === '/metrics') res.writeHead(200).end('self_work_total 3\n');
    else if (req.url === '/openmetrics') {
      acceptAsked = req.headers.accept;
      res.writeHead(200, { 'content-type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' }).end(OPENMETRICS);
    } else if (req.url === '/long-label') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`wide{${LONG_LABEL}="v"} 1\nnarrow{l="v"} 2\n`);
    else if (req.url === '/three-labels') res.writeHead(200).end('wide{a="1",b="2",c="3"} 1\nnarrow{a="1"} 2\n');
    else if (req.url === '/federated') res.writeHead(200).end('pushed{job="batch",exported_job="nightly",instance="pusher:9091"} 1\n');
    else res.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => server?.close());

describe('a discovered instance on the scraping replica’s own host', () => {
  it('is dialled over loopback and keeps its host in the instance tag, whichever replica scrapes it', async () => {
    const origin = `http://${hostname()}:${port}`;
    const report = await scrapeTarget({ job: 'storage', url: `${origin}/metrics`, healthUrl: `${origin}/health`, tags: {}, loopbackOnOwnHost: true }, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 }, tagLimits: TAG_LIMITS });
    expect(report.error).toBeUndefined();
    expect(report.up).toBe(true);
    expect(report.healthy).toBe(true);
    expect(report.samples.find((s) => s.name === 'self_work_total')?.tags).toEqual({ job: 'storage', instance: `${hostname()}:${port}` });
  });
});

describe('a discovered instance on another host', () => {
  it('is dialled at the address it advertised (a pod IP; its pod name does not resolve) and keeps its host in the instance tag', async () => {
    const origin = `http://pod-that-does-not-resolve.invalid:${port}`;
    const target = { job: 'processor', url: `${origin}/metrics`, healthUrl: `${origin}/health`, tags: {}, loopbackOnOwnHost: true, dialAddress: '127.0.0.1' };
    const report = await scrapeTarget(target, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 }, tagLimits: TAG_LIMITS });
    expect(report.error).toBeUndefined();
    expect(report.up).toBe(true);
    expect(report.samples.find((s) => s.name === 'self_work_total')?.tags).toEqual({ job: 'processor', instance: `pod-that-does-not-resolve.invalid:${port}` });
  });
});

describe('a target answering OpenMetrics', () => {
  it('is read as OpenMetrics: its timestamps in seconds, its info, stateset, gaugehistogram and unknown families kept', async () => {
    const origin = `http://127.0.0.1:${port}`;
    const report = await scrapeTarget({ job: 'om', url: `${origin}/openmetrics`, healthUrl: `${origin}/health`, tags: {} }, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 }, tagLimits: TAG_LIMITS });
    expect(report.error).toBeUndefined();
    expect(report.up).toBe(true);
    expect(report.invalid).toBe(0);
    const scraped = report.samples.filter((s) => s.tags?.job === 'om' && !['up', 'target_healthy'].includes(s.name) && !s.name.startsWith('scrape_') && !s.name.startsWith('target_'));
    expect(scraped.map((s) => [s.name, s.tags?.feature ?? s.tags?.le ?? s.tags?.version ?? null, s.value])).toEqual([
      ['build_info', '1.2.3', 1],
      ['feature', 'a', 1],
      ['feature', 'b', 0],
      ['queue_bytes_bucket', '1024', 3],
      ['queue_bytes_bucket', '+Inf', 5],
      ['queue_bytes_gcount', null, 5],
      ['queue_bytes_gsum', null, 4096],
      ['mystery', null, 7],
      ['jobs_total', null, 12],
      ['jobs_created', null, OM_SECONDS - 600],
    ]);
    // Seconds, not milliseconds: read as milliseconds the sample was in 1970 and refused as too old.
    expect(scraped.find((s) => s.name === 'jobs_total')!.ts).toBe(OM_SECONDS * 1000 + 250);
    expect(scraped.find((s) => s.name === 'mystery')!.ts).toBe(report.ts);
    // Asked for, after the text format.
    expect(acceptAsked).toMatch(/application\/openmetrics-text;version=1\.0\.0/);
  });
});

describe('a target exposing a label name longer than a tag key may be', () => {
  it('has that series left out and counted, and the rest of its scrape, up included, kept', async () => {
    const origin = `http://127.0.0.1:${port}`;
    const report = await scrapeTarget({ job: 'wide', url: `${origin}/long-label`, healthUrl: `${origin}/health`, tags: {} }, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 }, tagLimits: TAG_LIMITS });
    expect(report.up).toBe(true);
    expect(report.invalid).toBe(1);
    expect(report.samples.map((s) => s.name)).not.toContain('wide');
    expect(report.samples.find((s) => s.name === 'narrow')?.value).toBe(2);
    expect(report.samples.find((s) => s.name === 'up')?.value).toBe(1);
    expect(report.samples.find((s) => s.name === 'scrape_samples_dropped')?.value).toBe(1);
    // Every sample left is small: none can make a message too large to publish.
    expect(Math.max(...report.samples.map((s) => JSON.stringify(s).length))).toBeLessThan(1024);
  });
});

describe('a target exposing its own job, and an exported_job already (a Pushgateway, a federation endpoint)', () => {
  it('keeps every one of them, each prefixed again while its name is taken, as Prometheus does', async () => {
    const origin = `http://127.0.0.1:${port}`;
    const report = await scrapeTarget({ job: 'pushgateway', url: `${origin}/federated`, healthUrl: `${origin}/health`, tags: {} }, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 }, tagLimits: TAG_LIMITS });
    expect(report.samples.find((s) => s.name === 'pushed')?.tags).toEqual({
      job: 'pushgateway',
      instance: `127.0.0.1:${port}`,
      exported_job: 'nightly',
      exported_exported_job: 'batch',
      exported_instance: 'pusher:9091',
    });
  });
});

describe('a target whose series carry more tags than the configured ingest.maxTags', () => {
  it('has those series left out and counted, as the processor would refuse them, and the rest kept', async () => {
    const origin = `http://127.0.0.1:${port}`;
    // job and instance are added: a series of three labels has five tags.
    const report = await scrapeTarget({ job: 'few', url: `${origin}/three-labels`, healthUrl: `${origin}/health`, tags: {} }, { timeoutMs: 5000, staticTags: {}, limits: { bodyBytes: 1 << 20, samples: 1000 }, tagLimits: { maxTags: 4, maxTagValueLength: 256 } });
    expect(report.invalid).toBe(1);
    expect(report.samples.map((s) => s.name)).not.toContain('wide');
    expect(report.samples.find((s) => s.name === 'narrow')?.value).toBe(2);
    expect(report.samples.find((s) => s.name === 'scrape_samples_dropped')?.value).toBe(1);
  });
});
