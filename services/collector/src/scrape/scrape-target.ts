import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { IngestSampleSchema, tagsRefused, type IngestSample, type TagLimits } from '@terminusa/bus';
import { parsePrometheusText, type Exposition, type ExpositionFormat } from './parse-prometheus-text.ts';

/** Something scraped for Prometheus-text metrics: a configured target or a discovered instance of the suite. */
export interface ScrapeTarget {
  /** The `job` tag of its samples, and the `target` label of the collector's counters. */
  job: string;
  url: string;
  healthUrl: string;
  tags: Record<string, string>;
  /** The `Authorization` header of a scrape (the suite's own instances want their metrics token), never logged. */
  authorization?: string;
  /** Or a file holding the bearer token to show (a configured target's `credentialsFile`), read at each scrape. */
  credentialsFile?: string;
  /**
   * Dialled over loopback by a replica on the target's own host (a discovered instance: its host name need not
   * resolve there); its URL, and so its `instance` tag, stays the instance's host, whichever replica scrapes it.
   */
  loopbackOnOwnHost?: boolean;
  /**
   * Dialled at this address from other hosts (a discovered instance's advertised ops.address: a Kubernetes pod's
   * name does not resolve, its IP does); its URL, and so its `instance` tag, stays the instance's host.
   */
  dialAddress?: string;
}

/** What one scrape of a target produced; `samples` holds the scraped samples and the per-target `up`, duration and health ones. */
export interface ScrapeReport {
  /** When the scrape started: the time of its samples (those without a timestamp of their own) and of `up`. */
  ts: number;
  up: boolean;
  healthy: boolean;
  samples: IngestSample[];
  /** NaN/±Inf samples left out. */
  nonFinite: number;
  /** Samples left out because ingest would refuse them (a tag value too long, too many tags…). */
  invalid: number;
  error?: string;
}

/** Options of a scrape. */
export interface ScrapeOptions {
  /** Limit of the scrape and of the health check each. */
  timeoutMs: number;
  /** Tags of this collector, added where the target's own labels do not set them. */
  staticTags: Readonly<Record<string, string>>;
  /** Most bytes of the answer and most samples in it (`collection.scrapeLimits`); past either the scrape fails. */
  limits: { bodyBytes: number; samples: number };
  /** The processor's limits on a sample's tags (`ingest.maxTags`, `ingest.maxTagValueLength`): a series past them is left out and counted. */
  tagLimits: TagLimits;
}

// The Prometheus text format first, then OpenMetrics; an answer is read by the content type it gives (formatOf).
const ACCEPT = 'text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1';

/**
 * Scrapes a target and checks its health at the same time, each within the timeout, and records `up`,
 * `scrape_duration_seconds` and `scrape_samples_scraped` as Prometheus does, plus `target_healthy` and
 * `target_health_latency_seconds`. It never throws: a down target is a report with `up` false.
 */
export async function scrapeTarget(target: ScrapeTarget, options: ScrapeOptions): Promise<ScrapeReport> {
  const ts = Date.now();
  const [scrape, health] = await Promise.all([fetchExposition(target, options.timeoutMs, options.limits), checkHealth(dialled(target, target.healthUrl), options.timeoutMs)]);
  const targetTags = { ...target.tags, job: target.job, instance: instanceOf(target.url) };
  const samples: IngestSample[] = [];
  let invalid = 0;
  for (const exposed of scrape.exposition?.samples ?? []) {
    const sample = { name: exposed.name, value: exposed.value, ts: exposed.timestampMs ?? ts, tags: sampleTags(exposed.labels, targetTags, options.staticTags) };
    // Held to the configured limits too: the schema's are the defaults, and past lowered ones the processor refused
    // each sample into the dead letters, uncounted here.
    if (IngestSampleSchema.safeParse(sample).success && !tagsRefused(sample.tags, options.tagLimits)) samples.push(sample);
    else invalid++;
  }
  const nonFinite = scrape.exposition?.nonFinite ?? 0;
  const metaTags = { ...options.staticTags, ...targetTags };
  const meta = (name: string, value: number) => samples.push({ name, value, ts, tags: metaTags });
  meta('up', scrape.exposition ? 1 : 0);
  meta('scrape_duration_seconds', scrape.seconds);
  meta('scrape_samples_scraped', scrape.exposition ? scrape.exposition.samples.length + nonFinite : 0);
  meta('scrape_samples_dropped', nonFinite + invalid);
  meta('target_healthy', health.healthy ? 1 : 0);
  meta('target_health_latency_seconds', health.seconds);
  return { ts, up: scrape.exposition !== undefined, healthy: health.healthy, samples, nonFinite, invalid, ...(scrape.error ? { error: scrape.error } : {}) };
}

/**
 * The target's labels win over the scraped ones; a scraped `job` or `instance` is kept as `exported_job`/
 * `exported_instance`, prefixed again while that name is taken (`exported_exported_job` beside a scraped
 * `exported_job`, as a Pushgateway or a federation endpoint exposes them), shortest names first, as Prometheus does
 * with honor_labels: false. The collector's static tags only fill gaps, like Prometheus's external labels. Empty
 * label values mean "no label", as in Prometheus.
 */
function sampleTags(labels: Record<string, string>, targetTags: Record<string, string>, staticTags: Readonly<Record<string, string>>): Record<string, string> {
  const tags: Record<string, string> = {};
  const conflicting: [string, string][] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (value === '') continue;
    if (Object.hasOwn(targetTags, key)) conflicting.push([key, value]);
    else tags[key] = value;
  }
  Object.assign(tags, targetTags);
  conflicting.sort(([a], [b]) => a.length - b.length);
  for (const [key, value] of conflicting) {
    let name = `exported_${key}`;
    while (Object.hasOwn(tags, name)) name = `exported_${name}`;
    tags[name] = value;
  }
  for (const [key, value] of Object.entries(staticTags)) tags[key] ??= value;
  return tags;
}

/** `host:port` of a URL, with the scheme's default port written out, as Prometheus's `instance` label. */
function instanceOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
}

/** The Authorization header a scrape of `target` shows, if any; a credentials file that cannot be read fails the scrape. */
async function authorizationOf(target: ScrapeTarget): Promise<string | undefined> {
  if (target.credentialsFile === undefined) return target.authorization;
  try {
    return `Bearer ${(await readFile(target.credentialsFile, 'utf8')).trim()}`;
  } catch (err) {
    throw new Error(`credentials file ${target.credentialsFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function fetchExposition(target: ScrapeTarget, timeoutMs: number, limits: ScrapeOptions['limits']): Promise<{ exposition?: Exposition; seconds: number; error?: string }> {
  const url = dialled(target, target.url);
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const authorization = await authorizationOf(target);
    // The signal bounds reading the body too, so a target that trickles its answer is cut off as well.
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: ACCEPT, ...(authorization ? { authorization } : {}) } });
    if (!res.ok) {
      await res.body?.cancel();
      return { seconds: seconds(), error: `HTTP ${res.status}` };
    }
    const text = await bodyText(res, limits.bodyBytes);
    if (text === undefined) return { seconds: seconds(), error: `the answer is larger than ${limits.bodyBytes} bytes (collection.scrapeLimits.bodyBytes)` };
    return { exposition: parsePrometheusText(text, limits.samples, formatOf(res.headers.get('content-type'))), seconds: seconds() };
  } catch (err) {
    return { seconds: seconds(), error: describeFailure(err, timeoutMs) };
  }
}

async function checkHealth(url: string, timeoutMs: number): Promise<{ healthy: boolean; seconds: number }> {
  const started = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return { healthy: res.ok, seconds: (performance.now() - started) / 1000 };
  } catch {
    // Unreachable, refused or too slow: all mean unhealthy, and the latency recorded is how long we waited.
    return { healthy: false, seconds: (performance.now() - started) / 1000 };
  }
}

/**
 * The format of an answer by its content type: OpenMetrics when it says so (a target may answer it whatever was
 * asked, and its seconds read as milliseconds were 1970, every sample refused as too old), else the text format, as
 * an answer without a content type or with another one was read before.
 */
function formatOf(contentType: string | null): ExpositionFormat {
  return contentType?.split(';', 1)[0]!.trim().toLowerCase() === 'application/openmetrics-text' ? 'openmetrics' : 'text';
}

/** A short reason for a failed scrape, for logs. */
function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** The answer's text, read up to `maxBytes`; undefined (the rest not read) when it is longer. */
async function bodyText(res: Response, maxBytes: number): Promise<string | undefined> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of res.body ?? []) {
    bytes += chunk.byteLength;
    // Leaving the loop cancels the rest of the body.
    if (bytes > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The URL to dial for `url` of `target`: over loopback when the target asks for it and runs on this host. */
function dialled(target: ScrapeTarget, url: string): string {
  if (!target.loopbackOnOwnHost && !target.dialAddress) return url;
  const u = new URL(url);
  if (target.loopbackOnOwnHost && u.hostname === hostname()) u.hostname = '127.0.0.1';
  else if (target.dialAddress) u.hostname = target.dialAddress.includes(':') ? `[${target.dialAddress}]` : target.dialAddress;
  else return url;
  return u.toString();
}
