import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { compress } from 'snappy';
import { NAMESPACE_LABEL } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import { request, type Dispatcher } from 'undici';
import { engineQuery, type EngineQuery, type QuerySemantics } from './engine-query.ts';
import { PROMETHEUS_STALE_NAN, WriteRequestType } from './remote-write-proto.ts';

export { NAMESPACE_LABEL };

/** One series as the engine exports it: its labels (`__name__` included) and its samples in time order. */
export interface EngineSeries {
  labels: Record<string, string>;
  timestamps: number[];
  values: number[];
}

/** A label no series carries: a filter on it that matches every series makes a read's selector one the engine has not seen. */
const FRESH_READ_LABEL = 'tmon_fresh_read';

/**
 * The form of a read of the series matching `match` between `start` and `end`, answered from the engine's index as it
 * is now. VictoriaMetrics 1.79 caches which series a selector matches per day, and forgets those answers only when it
 * flushes its index on its own (at most every 10 s): a series created after the selector was last asked stayed unseen
 * until then, even after a snapshot, and the rollups computed a late minute of a new metric as empty. A filter unique
 * to the read (`tmon_fresh_read!="<uuid>"`, true of every series) keys it apart from every answer cached before.
 */
function freshSelection(match: string, start: number, end: number): URLSearchParams {
  return new URLSearchParams({ 'match[]': match, start: seconds(start), end: seconds(end), 'extra_filters[]': `{${FRESH_READ_LABEL}!="${randomUUID()}"}` });
}

/** A series selector for `name` and exact tag values: `{__name__="cpu",host="a"}`. */
export function selector(name: string, tags: Readonly<Record<string, string>> = {}): string {
  const quote = (v: string) => JSON.stringify(v);
  return `{${[`__name__=${quote(name)}`, ...Object.entries(tags).map(([k, v]) => `${k}=${quote(v)}`)].join(',')}}`;
}

/** Metric names the engine's series count per day answers at most (`/api/v1/status/tsdb`): its largest. */
export const COUNTED_NAMES = 1000;

/** A selector of every series of the metrics `names` (at least one): exact for one name, an alternation for more. */
export function namesSelector(names: readonly string[]): string {
  if (names.length === 1) return selector(names[0]!);
  // The engine looks each literal of an alternation up in its index, as it does an exact name.
  return `{__name__=~${JSON.stringify(names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'))}}`;
}

/** Epoch ms as the engine's time parameters take it: seconds with a fraction. */
const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** Failure of an engine request, with the status and the engine's own words. */
export class EngineError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** The engine restarted between a write and the sync after it: rows it held in memory may be gone, so write them again. */
export class EngineRestarted extends EngineError {
  constructor() {
    super('the engine restarted since these rows were written: rows it had not flushed may be lost; write them again');
    this.name = 'EngineRestarted';
  }
}

/**
 * Which engine process made a snapshot. VictoriaMetrics names snapshots `<UTC time>-<hex counter>`, the counter
 * starting at the process' start time in nanoseconds and counting every snapshot anyone makes: two snapshots of
 * one process differ by the few made between them, two processes by at least the first one's life in nanoseconds.
 */
function snapshotCounter(name: string): bigint | undefined {
  const hex = /-([0-9A-Fa-f]{8,16})$/.exec(name)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}
/** When a snapshot was taken (epoch ms, to the second), read from its name; undefined for a name of another form. */
export function snapshotTakenAt(name: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})-/.exec(name);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : undefined;
}

/** More snapshots than anyone makes between two of one client's, and fewer nanoseconds than an engine lives. */
const SAME_PROCESS_MAX_STEP = 1_000_000n;

/** An engine answer larger than its caller would hold. */
export class EngineAnswerTooLarge extends EngineError {
  constructor(path: string, maxBytes: number) {
    super(`engine ${path}: the answer is larger than ${maxBytes} bytes`);
    this.name = 'EngineAnswerTooLarge';
  }
}

/** What {@link VictoriaMetrics.sync} needs of a write: the engine restarts its client had seen before it. */
export interface WriteMark {
  readonly restarts: number;
}

/** The engine's answer to a Prometheus API call: its status, the body's text, and the body parsed when it is JSON. */
export class PrometheusAnswer {
  private parsed: { value: unknown } | undefined;

  constructor(
    readonly status: number,
    readonly text: string,
    private readonly json: boolean,
  ) {}

  /** Parsed on first use: a large answer passed on as text costs the gateway no parse (3 ms for 370 KB). */
  get body(): unknown {
    if (this.parsed === undefined) {
      let value: unknown = this.text;
      try {
        if (this.json) value = JSON.parse(this.text) as unknown;
      } catch {
        // Not JSON after all: the text, as for any other type.
      }
      this.parsed = { value };
    }
    return this.parsed.value;
  }
}

/**
 * VictoriaMetrics over its HTTP API: the raw samples' store. Writes go through the JSON-lines import, reads
 * through export (raw samples) and the query API; every request carries the namespace as `extra_label`, which
 * the engine adds to every written series and requires of every read.
 */
export class VictoriaMetrics {
  readonly readUrl: string;
  readonly writeUrl: string;
  private readonly extra: Record<string, string>;
  /** HTTP Basic credentials of every request, when the engine asks for them (`-httpAuth.*`). */
  private readonly authorization?: string;
  /** The `authKey` of `/snapshot/*` calls, when the engine asks for one (`-snapshotAuthKey`). */
  private readonly snapshotAuth: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly snapshots: boolean;
  private readonly syncIntervalMs: number;
  private readonly semantics: QuerySemantics;
  private nextSync?: Promise<void>;
  private runningSync?: Promise<void>;
  private lastSyncAt = 0;
  /** Engine restarts this client has seen between its snapshots; a write survives a sync only if none came after it. */
  private restarts = 0;
  private lastSnapshotCounter?: bigint;
  private firstSnapshot?: Promise<void>;

  /**
   * A selector of every series of this namespace. By the namespace label when there is one: the engine resolves
   * `{__name__=~".+"}` by walking every series it holds, every namespace's, before the label narrows them.
   */
  readonly everySeries: string;

  constructor(engine: Readonly<Config['storage']['engine']>) {
    this.readUrl = engine.url.replace(/\/+$/, '');
    this.writeUrl = (engine.writeUrl ?? engine.url).replace(/\/+$/, '');
    this.extra = engine.namespace ? { extra_label: `${NAMESPACE_LABEL}=${engine.namespace}` } : {};
    if (engine.password) this.authorization = `Basic ${Buffer.from(`${engine.username}:${engine.password}`).toString('base64')}`;
    this.snapshotAuth = engine.snapshotKey ? { authKey: engine.snapshotKey } : {};
    this.everySeries = engine.namespace ? `{${NAMESPACE_LABEL}=${JSON.stringify(engine.namespace)}}` : '{__name__=~".+"}';
    this.timeoutMs = engine.timeoutMs;
    this.snapshots = engine.durability === 'snapshot';
    this.syncIntervalMs = engine.syncIntervalMs;
    this.semantics = { rates: engine.rates, windowStart: engine.windowStart };
  }

  private async request(base: string, path: string, params: Record<string, string>, call: Call = {}): Promise<BodyReadable> {
    const url = `${base}${path}?${new URLSearchParams({ ...this.extra, ...params })}`;
    let res: Dispatcher.ResponseData;
    try {
      // A streamed answer (an export) may take longer than the timeout in all, as long as it keeps coming: a rollup
      // run's export of a million series under load took more than 30 s, failed, and the run started over for ever.
      res = await send(url, call.streamed ? { ...call, idleTimeoutMs: this.timeoutMs } : { ...call, signal: AbortSignal.timeout(this.timeoutMs) }, this.authorization);
    } catch (err) {
      throw new EngineError(`engine ${path}: ${(err as Error).message}`);
    }
    if (res.statusCode >= 300) {
      const text = await res.body.text();
      throw new EngineError(`engine ${path}: ${res.statusCode} ${refusal(res.statusCode, text)}`, credentialsRefused(res.statusCode, text) ? 401 : res.statusCode);
    }
    return res.body;
  }

  /**
   * Writes JSON lines (`{"metric":{…},"values":[…],"timestamps":[…]}`); resolves once the engine has parsed them,
   * with the mark to pass to {@link sync}.
   */
  async import(lines: string): Promise<WriteMark> {
    const mark = await this.writeMark();
    if (lines.length > 0) await (await this.request(this.writeUrl, '/api/v1/import', {}, { method: 'POST', body: lines })).arrayBuffer();
    return mark;
  }

  /**
   * Writes staleness markers: each series stopped at `ts`. Through the engine's remote-write endpoint, the one way
   * in that carries Prometheus' marker (the JSON import refuses a NaN); the mark is for {@link sync}.
   */
  async writeStaleMarkers(markers: readonly { name: string; tags: Readonly<Record<string, string>>; ts: number }[]): Promise<WriteMark> {
    const mark = await this.writeMark();
    if (markers.length === 0) return mark;
    const timeseries = markers.map((m) => ({
      labels: [{ name: '__name__', value: m.name }, ...Object.entries(m.tags).map(([name, value]) => ({ name, value }))],
      samples: [{ value: PROMETHEUS_STALE_NAN, timestamp: Math.trunc(m.ts) }],
    }));
    const body = await compress(Buffer.from(WriteRequestType.encode(WriteRequestType.fromObject({ timeseries })).finish()));
    const headers = { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' };
    await (await this.request(this.writeUrl, '/api/v1/write', {}, { method: 'POST', body, headers })).arrayBuffer();
    return mark;
  }

  /** Writes a stream of JSON lines (a file of them, as {@link import} takes them); the mark is for {@link sync}. */
  async importLinesFrom(body: Readable): Promise<WriteMark> {
    const mark = await this.writeMark();
    await (await this.request(this.writeUrl, '/api/v1/import', {}, { method: 'POST', body })).arrayBuffer();
    return mark;
  }

  /** Writes the engine's native export format (the archive's files, streamed from disk) back; the mark is for {@link sync}. */
  async importNative(body: Readable): Promise<WriteMark> {
    const mark = await this.writeMark();
    await (await this.request(this.writeUrl, '/api/v1/import/native', {}, { method: 'POST', body })).arrayBuffer();
    return mark;
  }

  /** The restarts seen before a write, after a first snapshot tells which engine process writes go to. */
  private async writeMark(): Promise<WriteMark> {
    if (this.snapshots && this.lastSnapshotCounter === undefined) {
      this.firstSnapshot ??= this.snapshotOnce().finally(() => (this.firstSnapshot = undefined));
      await this.firstSnapshot;
    }
    return { restarts: this.restarts };
  }

  /**
   * Resolves once everything imported before the call is on the engine's disk. The single node keeps the last
   * second or two of rows in memory, and a snapshot is the one request that flushes them to files (fsynced), so a
   * sync is one snapshot, deleted at once. Callers share the next snapshot that starts after their call (a group
   * commit), and snapshots start at most every `syncIntervalMs`: one per batch made the engine write a tiny part
   * per batch and spend half a core merging them (bench:ingest's live fleet fell behind at 6,700 samples/s).
   * Pass the mark of the writes it vouches for: a sync after which the snapshot came from another engine process
   * than the one before those writes (it was killed and restarted in between) rejects with {@link EngineRestarted}.
   */
  sync(written: WriteMark = { restarts: this.restarts }): Promise<void> {
    if (!this.snapshots) return Promise.resolve();
    this.nextSync ??= this.scheduleSync();
    // A process that took the rows and died before this snapshot took them with it, whatever the snapshot says.
    return this.nextSync.then(() => {
      if (this.restarts !== written.restarts) throw new EngineRestarted();
    });
  }

  private async scheduleSync(): Promise<void> {
    await this.runningSync?.catch(() => undefined);
    const wait = this.lastSyncAt + this.syncIntervalMs - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    // From here on a caller's rows may land after the snapshot begins: it waits for the one after.
    this.nextSync = undefined;
    this.lastSyncAt = Date.now();
    this.runningSync = this.snapshotOnce();
    try {
      await this.runningSync;
    } finally {
      this.runningSync = undefined;
    }
  }

  private async snapshotOnce(): Promise<void> {
    const name = await this.createSnapshot();
    await this.deleteSnapshot(name);
    const counter = snapshotCounter(name);
    if (counter === undefined) return;
    const previous = this.lastSnapshotCounter;
    this.lastSnapshotCounter = counter;
    const step = previous === undefined ? 0n : counter > previous ? counter - previous : previous - counter;
    if (step >= SAME_PROCESS_MAX_STEP) this.restarts++;
  }

  /**
   * Runs `call` again while the engine answers 503 (busy), for up to the request timeout: the single node counts a
   * snapshot among its few concurrent searches and refuses it while exports run, and failing a sync for that made
   * the storage hand whole batches back to be written again; an export refused so failed a whole rollup run.
   */
  private async busyRetried<T>(call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof EngineError) || err.status !== 503 || Date.now() + wait > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Creates a snapshot (hard links of every part, in-memory rows flushed first) and returns its name. */
  async createSnapshot(): Promise<string> {
    const body = (await (await this.busyRetried(() => this.request(this.writeUrl, '/snapshot/create', this.snapshotAuth))).json()) as { status?: string; snapshot?: string; msg?: string };
    if (body.status !== 'ok' || !body.snapshot) throw new EngineError(`engine /snapshot/create: ${body.msg ?? JSON.stringify(body)}`);
    return body.snapshot;
  }

  async deleteSnapshot(name: string): Promise<void> {
    await (await this.request(this.writeUrl, '/snapshot/delete', { ...this.snapshotAuth, snapshot: name })).arrayBuffer();
  }

  /** The names of the engine's snapshots, oldest first. */
  async listSnapshots(): Promise<string[]> {
    const body = (await (await this.request(this.writeUrl, '/snapshot/list', this.snapshotAuth)).json()) as { status?: string; snapshots?: string[]; msg?: string };
    if (body.status !== 'ok' || !Array.isArray(body.snapshots)) throw new EngineError(`engine /snapshot/list: ${body.msg ?? JSON.stringify(body)}`);
    return body.snapshots.sort();
  }

  /**
   * Raw samples of the series matching `match` with `start <= ts <= end` (epoch ms), one series at a time as the
   * engine streams them; `signal` ends the export where it is.
   */
  async *export(match: string, start: number, end: number, signal?: AbortSignal): AsyncGenerator<EngineSeries> {
    // Ridden out like a snapshot: a rollup run's export refused while the engine is busy failed the whole run.
    const body = await this.busyRetried(() => this.request(this.readUrl, '/api/v1/export', {}, { method: 'POST', body: freshSelection(match, start, end), streamed: true, signal }));
    const decoder = new TextDecoder();
    let rest = '';
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        // A chunk holds many series: stop between them, not only when the next chunk is due.
        signal?.throwIfAborted();
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        if (line) yield parseSeries(line);
      }
    }
    rest += decoder.decode();
    signal?.throwIfAborted();
    if (rest.trim()) yield parseSeries(rest);
  }

  /** Every series matching `match` between `start` and `end`, collected. */
  async exportAll(match: string, start: number, end: number): Promise<EngineSeries[]> {
    const all: EngineSeries[] = [];
    for await (const s of this.export(match, start, end)) all.push(s);
    return all;
  }

  /** The label sets of the series matching `match` that hold samples between `start` and `end` (the engine narrows by day). */
  async series(match: string, start: number, end: number): Promise<Record<string, string>[]> {
    const body = await this.request(this.readUrl, '/api/v1/series', {}, { method: 'POST', body: freshSelection(match, start, end) });
    return ((await body.json()) as { data: Record<string, string>[] }).data;
  }

  /** Every metric name with samples between `start` and `end`. */
  async names(start: number, end: number): Promise<string[]> {
    // Ridden out like an export: the rollups list the names of a window before they export it.
    const body = await this.busyRetried(() => this.request(this.readUrl, '/api/v1/label/__name__/values', { start: seconds(start), end: seconds(end) }));
    return ((await body.json()) as { data: string[] }).data;
  }

  /**
   * Series per metric name on the UTC day of `at` (epoch ms), of the {@link COUNTED_NAMES} names with the most.
   * Unlike the name list, it is answered for a namespace of any size (0.1 s for a million series).
   */
  async seriesCountByName(at: number): Promise<Map<string, number>> {
    const body = await this.busyRetried(() => this.request(this.readUrl, '/api/v1/status/tsdb', { topN: String(COUNTED_NAMES), date: new Date(at).toISOString().slice(0, 10) }));
    const { data } = (await body.json()) as { data: { seriesCountByMetricName: { name: string; value: number }[] } };
    return new Map(data.seriesCountByMetricName.map((e) => [e.name, e.value]));
  }

  /**
   * The samples of `match` between `start` and `end` in the engine's native format (for the archive), as the engine
   * streams them: an hour of a million series is hundreds of megabytes, which the caller writes on as it comes.
   */
  async exportNative(match: string, start: number, end: number, signal?: AbortSignal): Promise<Readable> {
    return this.request(this.readUrl, '/api/v1/export/native', {}, { method: 'POST', body: freshSelection(match, start, end), streamed: true, signal });
  }

  /** A PromQL expression as this engine is asked it ({@link engineQuery}, with the configured rates and window start). */
  promql(expr: string): EngineQuery {
    return engineQuery(expr, this.semantics);
  }

  /** An instant query (PromQL/MetricsQL, asked as {@link promql} words it) at `time` (epoch ms): each series' labels and value. */
  async query(expr: string, time: number): Promise<{ metric: Record<string, string>; value: number }[]> {
    const form = new URLSearchParams({ query: this.promql(expr).expr, time: seconds(time), nocache: '1' });
    const res = await this.request(this.readUrl, '/api/v1/query', {}, { method: 'POST', body: form });
    const body = (await res.json()) as { data: { resultType: string; result: unknown } };
    // A scalar (`vector(1) * 2` is a vector, `2 * 3` a scalar) answers as one series without labels.
    if (body.data.resultType === 'scalar') return [{ metric: {}, value: Number((body.data.result as [number, string])[1]) }];
    return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /**
   * Forwards a call of the Prometheus HTTP API (`/api/v1/query`, `/api/v1/series`, …) as a form POST and returns the
   * engine's answer whatever its status. The namespace's extra_label rides in the URL, and `params` may not set the
   * engine's own filters (`extra_label`, `extra_filters[]`): only this client scopes a read. Throws EngineError when
   * the engine is unreachable or `signal` aborts, EngineAnswerTooLarge past `maxBytes` (read no further).
   */
  async prometheusApi(path: string, params: URLSearchParams, options: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<PrometheusAnswer> {
    const form = new URLSearchParams([...params].filter(([key]) => !key.startsWith('extra_')));
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      res = await send(`${this.readUrl}${path}?${new URLSearchParams(this.extra)}`, { method: 'POST', body: form, signal: options.signal ?? AbortSignal.timeout(this.timeoutMs) }, this.authorization);
      text = await readText(res.body, path, options.maxBytes ?? Number.POSITIVE_INFINITY);
    } catch (err) {
      if (err instanceof EngineAnswerTooLarge) throw err;
      throw new EngineError(`engine ${path}: ${(err as Error).message}`);
    }
    // Refused for want of credentials or by vmauth's routes: the suite's configuration is at fault, not the query
    // (which the answer would blame, quoting what vmauth quoted).
    if (credentialsRefused(res.statusCode, text)) throw new EngineError(`engine ${path}: 401 ${refusal(401, text)}`, 401);
    if (/cannot determine targetURL: missing route/.test(text)) throw new EngineError(`engine ${path}: ${res.statusCode} ${refusal(res.statusCode, text)}`, res.statusCode);
    return new PrometheusAnswer(res.statusCode, text, /json/.test(String(res.headers['content-type'] ?? '')));
  }

  /** Deletes every series matching `match` (tools and tests; the engine frees the space at its next merge). */
  async deleteSeries(match: string): Promise<void> {
    await (await this.request(this.writeUrl, '/api/v1/admin/tsdb/delete_series', {}, { method: 'POST', body: new URLSearchParams({ 'match[]': match }) })).arrayBuffer();
  }

  /**
   * Throws unless the engine runs with the flags the suite depends on, read in one request of `/flags` (which lists
   * the flags set): one sample per series and timestamp (`-dedup.minScrapeInterval`), which is what makes a
   * redelivered batch harmless; and `labels` labels per series (`-maxLabelsPerTimeseries`, 30 unless set), since past
   * its limit it drops a sample's last labels without a word, merging series or taking one out of its namespace. Only
   * a single node is asked: in the cluster edition the flags belong to vmstorage, vmselect and vminsert, which the
   * suite does not reach.
   */
  async checkFlags(labels: number): Promise<void> {
    if (!this.snapshots) return;
    const flags = await (await this.request(this.readUrl, '/flags', {})).text();
    const dedup = /^-dedup\.minScrapeInterval="([^"]*)"/m.exec(flags)?.[1];
    const dedupMs = dedup === undefined ? 0 : durationFlagMs(dedup);
    if (!(dedupMs > 0)) {
      throw new EngineError(`the engine at ${this.readUrl} runs without -dedup.minScrapeInterval: a redelivered batch would be stored twice; start it with -dedup.minScrapeInterval=1ms`);
    }
    // Wider, as VictoriaMetrics' own advice for scrapes has it (the scrape interval), it keeps one sample per series
    // and interval: a series sent every second lost 14 of every 15 samples at 15s, and the rollups counted the rest.
    if (dedupMs > 1) {
      throw new EngineError(`the engine at ${this.readUrl} runs with -dedup.minScrapeInterval=${dedup}: it keeps one sample per series in each ${dedup} and drops the others; start it with -dedup.minScrapeInterval=1ms`);
    }
    const limit = Number(/^-maxLabelsPerTimeseries="(\d+)"/m.exec(flags)?.[1] ?? 30);
    if (limit < labels) {
      throw new EngineError(`the engine at ${this.readUrl} keeps ${limit} labels per series, fewer than the ${labels} a sample may have (ingest.maxTags + 4): it would drop the rest silently; start it with -maxLabelsPerTimeseries=${labels}`);
    }
  }

  /**
   * Throws unless the engine answers, with these credentials. Not its `/health`: vmauth in front of it answers that
   * itself, engine or not, and it asks for no credentials. A constant query travels to the engine: its answer means
   * up, and so does the engine's own refusal for want of a free search slot (busy, not down); anything else (refused
   * credentials or route, vmauth's 502 with no engine behind it, a proxy's error, a wrong URL's 404) means down. Its
   * `timeout` of a second bounds the engine's wait for a slot (10 s otherwise), well inside a health check's 2 s: a
   * busy engine must not make the services around it look down.
   */
  async health(): Promise<void> {
    let res: Dispatcher.ResponseData;
    try {
      res = await send(`${this.readUrl}/api/v1/query?${new URLSearchParams({ ...this.extra, query: '1', timeout: '1' })}`, { signal: AbortSignal.timeout(this.timeoutMs) }, this.authorization);
    } catch (err) {
      throw new EngineError(`engine health: ${(err as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode < 300 || (res.statusCode === 503 && /concurrent search requests/.test(text))) return;
    throw new EngineError(`engine health: ${res.statusCode} ${refusal(res.statusCode, text)}`, credentialsRefused(res.statusCode, text) ? 401 : res.statusCode);
  }
}

type BodyReadable = Dispatcher.ResponseData['body'];

/** An engine call: GET with the parameters in the URL, or POST with a body (a form or the lines to import). */
interface Call {
  method?: 'GET' | 'POST';
  body?: string | Uint8Array | URLSearchParams | Readable;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The answer is streamed: no limit on the whole call, only on the wait for its head and between its chunks. */
  streamed?: boolean;
  /** Most milliseconds to wait for the answer's head, and then between two chunks of its body. */
  idleTimeoutMs?: number;
}

/**
 * One call through undici's request API rather than fetch: fetch's web streams cost about 0.8 ms a call on the
 * 2-core test machine, a third of what the engine itself takes to answer a query.
 */
function send(url: string, { method = 'GET', body, headers, signal, idleTimeoutMs }: Call, authorization: string | undefined): Promise<Dispatcher.ResponseData> {
  const form = body instanceof URLSearchParams;
  const idle = idleTimeoutMs === undefined ? {} : { headersTimeout: idleTimeoutMs, bodyTimeout: idleTimeoutMs };
  const sent = { ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : headers), ...(authorization ? { authorization } : {}) };
  return request(url, { method, signal, ...idle, body: form ? body.toString() : body, headers: sent });
}

/** The engine's refusal, with the setting that answers it when it is about credentials (its own text names flags). */
function refusal(status: number, text: string): string {
  if (credentialsRefused(status, text)) return 'the engine, or vmauth in front of it, refused the credentials: set storage.engine.username and password (VM_USERNAME, VM_PASSWORD)';
  // vmauth quotes the whole request URI, and with it any key in its query.
  if (/cannot determine targetURL: missing route/.test(text)) return 'vmauth in front of the engine does not let this service’s user make this call (its routes: deploy/vmauth/auth.yml)';
  if (/invalid authKey.*-snapshotAuthKey/.test(text)) return 'the engine asks for its snapshot key: set storage.engine.snapshotKey (VM_SNAPSHOT_KEY)';
  return text.slice(0, 300);
}

/**
 * Refused for want of credentials: the engine answers 401, vmauth 400 with the credentials it did not know quoted
 * in the answer (a password on its way to a log or a client, hence never passed on).
 */
function credentialsRefused(status: number, text: string): boolean {
  return status === 401 || (status === 400 && /cannot find the provided auth token|missing `Authorization` request header/.test(text));
}

/** The body as text, cancelled once it passes `maxBytes`. */
async function readText(body: BodyReadable, path: string, maxBytes: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    // Leaving the loop by a throw destroys the stream, so the rest of the answer is never read.
    if (size > maxBytes) throw new EngineAnswerTooLarge(path, maxBytes);
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}

function parseSeries(line: string): EngineSeries {
  const parsed = JSON.parse(line) as { metric: Record<string, string>; values: (number | null)[]; timestamps: number[] };
  // The engine exports a staleness marker as null: the series stopped there, which is no sample to count or chart.
  if (!parsed.values.includes(null)) return { labels: parsed.metric, timestamps: parsed.timestamps, values: parsed.values as number[] };
  const timestamps: number[] = [];
  const values: number[] = [];
  parsed.values.forEach((v, i) => {
    if (v === null) return;
    timestamps.push(parsed.timestamps[i]!);
    values.push(v);
  });
  return { labels: parsed.metric, timestamps, values };
}

/** A Go duration flag's value (`1ms`, `15s`, `1m30s`) in milliseconds; NaN when it is not one. */
export function durationFlagMs(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (/^0+$/.test(text)) return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return NaN;
  return parts.reduce((ms, [, n, unit]) => ms + Number(n) * units[unit!]!, 0);
}
