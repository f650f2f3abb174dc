/**
 * Ingestion of the suite on this machine through its public door — 100-sample JSON messages published on
 * JetStream (`metrics.ingest.<source>`) → processor → SAMPLES → storage → VictoriaMetrics — with the shipped
 * default settings, side by side with the engine alone in the same run. Real NATS, PostgreSQL, Redis and
 * VictoriaMetrics; each suite phase in a fresh test namespace (its own streams, schema, Redis prefix and engine
 * label `tmon_ns`, so runs and phases do not see each other's series or limits) and with a fresh engine of its own
 * (started by the bench with the suite's flags, as the engine alone is), so that the suite's resident memory —
 * services and engine — is compared with the engine alone's on the same footing, and the shared engine of the
 * tests keeps none of the bench's samples.
 *
 * (a) Backfill: a day of 10,000 series (`bench_backfill{series=i}`) at 1-minute resolution, oldest minute first,
 *     each message 100 series of one minute, published as fast as the suite takes it (publishing pauses while
 *     BENCH_MAX_PENDING messages are not stored yet), measured from the first publish until the engine's
 *     count_over_time finds every sample. The processor refuses samples older than storage.retention.raw (1d) at
 *     receipt, so the day ends at the current minute and starts BENCH_BACKFILL_MINUTES (1436, i.e. 4 minutes short of a
 *     day) before it; published oldest first, the oldest minute is the first to arrive.
 *     Beside it, the engine alone (after the suite's services stopped, so nothing of the suite competes): the same
 *     samples imported into a second, fresh VictoriaMetrics started by the bench (free port, temporary
 *     -storageDataPath, -dedup.minScrapeInterval=1ms -retentionPeriod=100y), JSON lines, 4 requests in flight, each
 *     100 series × 144 minutes, then one snapshot (the storage's sync, which flushes the rows to disk); timed from
 *     the first request until its count_over_time finds every sample: the engine's cheapest shape, the headline's
 *     comparison. Beside it the engine alone fed as the suite is fed: one sample a line, a minute of every series a
 *     request, oldest first (`engine_sample_lines_backfill_per_s`).
 *     And the door alone: the same messages published by the same publisher into the suite's INGEST stream of a
 *     fresh namespace with nothing consuming it, timed until JetStream acked the last: the most the suite's public
 *     door takes of this workload on this machine, whatever happens after it.
 * (b) Live fleet: BENCH_LIVE_SERIES series (default 1,000,000) each sending one sample every 15 s for
 *     BENCH_LIVE_SECONDS (default 300): messages of 100 series at a fixed rate of series / 100 / 15 per second,
 *     series spread over 100 metric names (`bench_live_00`…`bench_live_99`, series / 100 each, within the shipped
 *     cardinality guard of 10,000 series per name and 1,000,000 in all). Reported: the stored rate, publish-to-
 *     queryable p50/p99 of a random BENCH_LATENCY_SAMPLE of the messages (probed with the engine's
 *     /api/v1/export), VmRSS of every process every 5 s (processor, storage, alert-manager, the engine,
 *     nats-server, redis-server, postgres), and lost/doubled counted in the engine per series
 *     (count_over_time against what was published to it).
 * (b') The engine alone, the fleet's schedule: the same series and rate imported into a fresh VictoriaMetrics (one
 *     sample per series per line, 10,000 series a request, sent at its turn), for the same BENCH_LIVE_SECONDS.
 * (c) Hot series (BENCH_HOT_SECONDS, default 60; 0 skips it): the former headline, 10,000 series as fast as the
 *     suite takes them, in the backfill's namespace. A secondary figure only.
 *
 *   pnpm bench:ingest
 *   BENCH_LIVE_SERIES=100000 BENCH_LIVE_SECONDS=60 pnpm bench:ingest
 *   TMON_CORE__BATCH_SIZE=200 pnpm bench:ingest         (TMON_* settings are passed to the services and printed)
 *
 * Prints a readable summary, then as the last line one JSON object for scripts to pick up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { Namespace, ensureStreams } from '@terminusa/bus';
import { NAMESPACE_LABEL, VictoriaMetrics, selector } from '@terminusa/metric-store';
import { CpuSampler, cpuSeconds, createTestNamespace, ENGINE_COMM, envNumber, fmt, memoryMiB, pidsByComm, quantile, roundTo, startEngineProcess, stopProcess, waitFor, type CpuReport, type EngineProcess, type TestNamespace } from '@terminusa/testkit';
import { GROUPS, LIVE_FLEET, LiveFleet, MessageFactory, METRIC, SAMPLES_PER_MESSAGE, SERIES, buildMessage, publishPhase, sampleValue, type BuiltMessage, type MessageSource } from './ingest-load.ts';
import { PipelineMonitor, RollupLag, countStored, startIngestReplicas, type Counted, type Replica } from './ingest-pipeline.ts';
import { readFileSync } from 'node:fs';

// ---------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------

const MINUTE_MS = 60_000;
const BACKFILL_SERIES = 10_000;
const BACKFILL_METRIC = 'bench_backfill';
const BACKFILL_MINUTES = envNumber('BENCH_BACKFILL_MINUTES', 1436, (n) => Number.isInteger(n) && n > 0 && n < 1440);
const LIVE_NAMES = LIVE_FLEET.names;
const LIVE_SERIES = envNumber('BENCH_LIVE_SERIES', 1_000_000, (n) => Number.isInteger(n) && n % (LIVE_NAMES * SAMPLES_PER_MESSAGE) === 0);
const LIVE_SECONDS = envNumber('BENCH_LIVE_SECONDS', 300);
const LIVE_INTERVAL_MS = LIVE_FLEET.intervalMs;
const HOT_SECONDS = envNumber('BENCH_HOT_SECONDS', 60, (n) => n >= 0);
/** Publishes awaiting their JetStream ack, at most. */
const WINDOW = envNumber('BENCH_WINDOW', 256);
/** Backlog (messages published, not yet stored) at which the as-fast-as-it-takes publishers pause. */
const MAX_PENDING = envNumber('BENCH_MAX_PENDING', 2000);
const LATENCY_SAMPLE = envNumber('BENCH_LATENCY_SAMPLE', 0.01, (n) => n > 0 && n <= 1);
const POLL_MS = envNumber('BENCH_POLL_MS', 100);
const DRAIN_TIMEOUT_MS = envNumber('BENCH_DRAIN_TIMEOUT_S', 900) * 1000;
const ROLLUP_WAIT_MS = envNumber('BENCH_ROLLUP_WAIT_S', 300) * 1000;
const ALERTING = (process.env.BENCH_ALERTING ?? '1') !== '0';
/** Settings changed from the shipped defaults for this run (TMON_* in the environment go to the services). */
const CHANGED = Object.entries(process.env).filter(([k]) => k.startsWith('TMON_')).map(([k, v]) => `${k}=${v}`);

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

function log(line = ''): void {
  console.log(line);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Pids of the VictoriaMetrics processes whose command line contains `needle`. */
function enginePids(needle: string): number[] {
  return pidsByComm(ENGINE_COMM).filter((pid) => cmdline(pid).includes(needle));
}

// ---------------------------------------------------------------------------------------------------------
// Loads
// ---------------------------------------------------------------------------------------------------------

/** The backfill: minute by minute, oldest first; each minute 100 messages of 100 series. */
class BackfillSource implements MessageSource {
  private next = 0;
  readonly groups = BACKFILL_SERIES / SAMPLES_PER_MESSAGE;
  readonly total = this.groups * BACKFILL_MINUTES;
  constructor(readonly start: number) {}
  get end(): number {
    return this.start + (BACKFILL_MINUTES - 1) * MINUTE_MS;
  }
  build(): BuiltMessage {
    const seq = this.next++;
    const group = seq % this.groups;
    return buildMessage(seq, group, BACKFILL_METRIC, group * SAMPLES_PER_MESSAGE, this.start + Math.floor(seq / this.groups) * MINUTE_MS);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Publish-to-queryable latency, read from the engine
// ---------------------------------------------------------------------------------------------------------

/**
 * Publish-to-queryable latency of a random share of the messages. For each probed message: when its publish
 * began and the (name, series, ts) of its first sample. A message's samples are acked by the storage together,
 * after the engine holds them on disk, so its first sample being exported means the message is queryable. Every
 * POLL_MS one `/api/v1/export` (the namespace's extra_label; one match[] per unseen probe, start..end spanning
 * their timestamps) asks which exist; latency = send time of the first export that returns it − publish start,
 * an upper bound by at most one poll interval plus one request.
 */
class LatencyProbe {
  private readonly pending = new Map<number, { name: string; series: string; ts: number; at: number; phase: string }>();
  readonly results = new Map<string, number[]>();
  private running = true;
  private loop: Promise<void> | undefined;
  polls = 0;
  private pollMs = 0;

  constructor(
    private readonly url: string,
    private readonly namespace: string,
  ) {}

  track(phase: string, msg: BuiltMessage, at: number): void {
    if (Math.random() >= LATENCY_SAMPLE) return;
    this.pending.set(msg.seq, { name: msg.name, series: msg.firstSeries, ts: msg.ts, at, phase });
  }

  start(): void {
    this.loop = (async () => {
      while (this.running) {
        const sentAt = performance.now();
        if (this.pending.size > 0) await this.poll(sentAt).catch((err: unknown) => log(`  probe: ${String(err)}`));
        await sleep(Math.max(1, POLL_MS - (performance.now() - sentAt)));
      }
    })();
  }

  private async poll(sentAt: number): Promise<void> {
    const probes = [...this.pending].slice(0, 500);
    const body = new URLSearchParams({ extra_label: `${NAMESPACE_LABEL}=${this.namespace}` });
    for (const key of new Set(probes.map(([, p]) => selector(p.name, { series: p.series })))) body.append('match[]', key);
    body.set('start', (Math.min(...probes.map(([, p]) => p.ts)) / 1000).toFixed(3));
    body.set('end', (Math.max(...probes.map(([, p]) => p.ts)) / 1000).toFixed(3));
    const res = await fetch(`${this.url}/api/v1/export`, { method: 'POST', body });
    if (!res.ok) throw new Error(`export ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const seen = new Set<string>();
    for (const line of (await res.text()).split('\n')) {
      if (!line) continue;
      const s = JSON.parse(line) as { metric: Record<string, string>; timestamps: number[] };
      for (const ts of s.timestamps) seen.add(`${s.metric.__name__}|${s.metric.series}|${ts}`);
    }
    this.polls++;
    this.pollMs += performance.now() - sentAt;
    for (const [seq, p] of probes) {
      if (!seen.has(`${p.name}|${p.series}|${p.ts}`)) continue;
      this.pending.delete(seq);
      const list = this.results.get(p.phase) ?? [];
      list.push(sentAt - p.at);
      this.results.set(p.phase, list);
    }
  }

  unseen(phase: string): number {
    return [...this.pending.values()].filter((p) => p.phase === phase).length;
  }

  async settle(timeoutMs: number): Promise<void> {
    await waitFor(() => (this.pending.size === 0 ? true : undefined), timeoutMs, 'latency probes', 50).catch(() => undefined);
  }

  get meanPollMs(): number {
    return this.pollMs / Math.max(1, this.polls);
  }

  stats(...phases: string[]): { n: number; p50: number; p99: number; max: number } {
    const sorted = phases.flatMap((p) => this.results.get(p) ?? []).sort((a, b) => a - b);
    return { n: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Memory of every process
// ---------------------------------------------------------------------------------------------------------

interface Watched {
  label: string;
  pids: () => number[];
}

/** VmRSS (summed over a group's pids) every `intervalMs`. */
class RssSampler {
  readonly rows: { t: number; rss: number[] }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = performance.now();

  constructor(
    readonly watched: readonly Watched[],
    intervalMs = 5000,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    this.rows.push({ t: (performance.now() - this.t0) / 1000, rss: this.watched.map((w) => w.pids().reduce((s, pid) => s + (memoryMiB(pid)?.rss ?? 0), 0)) });
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  max(i: number): number {
    return Math.max(...this.rows.map((r) => r.rss[i] ?? -Infinity));
  }

  print(): void {
    log(`    ${'t (s)'.padStart(6)}  ${this.watched.map((w) => w.label.padStart(16)).join('')}`);
    const step = Math.max(1, Math.ceil(this.rows.length / 20));
    this.rows.forEach((row, i) => {
      if (i % step === 0 || i === this.rows.length - 1) log(`    ${fmt(row.t).padStart(6)}  ${row.rss.map((v) => `${fmt(v)} MiB`.padStart(16)).join('')}`);
    });
  }
}

function cpuLine(report: CpuReport): string {
  return `${[...report.groups].sort((a, b) => b.percent - a.percent).map((g) => `${g.label} ${fmt(g.percent)} %`).join(', ')}; machine ${fmt(report.machinePercent)} % of ${report.cores} cores`;
}

// ---------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------

const spaces: TestNamespace[] = [];
const connections: NatsConnection[] = [];
const replicas: Replica[] = [];
let solo: EngineProcess | undefined;
/** The engine of the suite phase running now. */
let suiteEngine: EngineProcess | undefined;
let cleaned: Promise<void> | undefined;

async function stopReplicas(): Promise<void> {
  await Promise.allSettled(replicas.map((r) => stopProcess(r.proc)));
  replicas.splice(0, replicas.length);
}

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await stopReplicas();
    await Promise.allSettled(connections.map((c) => c.close()));
    await solo?.cleanup().catch(() => undefined);
    await suiteEngine?.cleanup().catch(() => undefined);
    await Promise.allSettled(spaces.map((s) => s.cleanup()));
  })();
  return cleaned;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping the services and removing the namespaces…`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** A fresh namespace and engine with the suite's ingest services running in it, a NATS connection and a pipeline monitor. */
async function startPhase(label: string): Promise<{ ns: TestNamespace; nc: NatsConnection; monitor: PipelineMonitor; engine: VictoriaMetrics }> {
  suiteEngine = await startEngineProcess();
  const ns = await createTestNamespace({ storage: { engine: { url: suiteEngine.url } } });
  spaces.push(ns);
  const nc = await connect({ servers: ns.config.nats.url, name: `ingest-bench ${label}` });
  connections.push(nc);
  await startIngestReplicas(ns, 1, replicas, { alerting: ALERTING, env: { VM_URL: suiteEngine.url } });
  const monitor = new PipelineMonitor(await nc.jetstreamManager(), ns, replicas.filter((r) => r.proc.name === 'storage'));
  log(`  namespace ${ns.id}, engine ${suiteEngine.url} (fresh); started ${replicas.map((r) => `${r.label} (pid ${r.proc.child.pid})`).join(', ')}`);
  return { ns, nc, monitor, engine: new VictoriaMetrics({ ...ns.config.storage.engine, timeoutMs: 300_000 }) };
}

/** Stops the phase's services, then its engine. */
async function endPhase(): Promise<void> {
  await stopReplicas();
  await suiteEngine?.cleanup();
  suiteEngine = undefined;
}

/** Peak VmRSS of the suite's own processes (services and engine; the servers it shares with other software apart). */
function suiteRssMiB(sampler: RssSampler): number {
  return sampler.watched.reduce((sum, w, i) => (['nats-server', 'redis-server', 'postgres (all)'].includes(w.label) ? sum : sum + sampler.max(i)), 0);
}

/** Peak VmRSS of the engine alone's processes, read every second until `stop()`. */
function engineRss(pids: () => number[]): { stop(): number } {
  const sampler = new RssSampler([{ label: 'victoria-metrics', pids }], 1000);
  return {
    stop() {
      sampler.stop();
      return sampler.max(0);
    },
  };
}

/** Polls the engine's count until it holds `total` samples; resolves with the send time of the poll that found them. */
async function queryableAt(count: () => Promise<Counted>, total: number, timeoutMs: number): Promise<{ at: number; counted: Counted }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const at = performance.now();
    const counted = await count();
    if (counted.rows >= total || performance.now() > deadline) {
      if (counted.rows < total) log(`  NOT all queryable: ${fmt(counted.rows)} of ${fmt(total)} after waiting ${fmt(timeoutMs / 1000)} s; timed to the last count`);
      return { at, counted };
    }
    await sleep(250);
  }
}

/** A client of an engine the bench started for itself (no namespace label: it holds only the bench's samples). */
function soloClient(url: string): VictoriaMetrics {
  return new VictoriaMetrics({ url, durability: 'snapshot', username: 'terminusa', syncIntervalMs: 1000, snapshotMaxAge: '24h', namespace: '', timeoutMs: 300_000, rates: 'engine', windowStart: 'excluded' });
}

/** The live fleet's samples in `engine` between `from` and `to`, per metric name, against `expected(n, series)`: what was sent to series `series` of name `n`. */
async function countFleet(engine: VictoriaMetrics, from: number, to: number, expected: (n: number, series: number) => number): Promise<Counted> {
  const perName = LIVE_SERIES / LIVE_NAMES;
  const all: Counted = { rows: 0, pairs: 0, doubled: 0, lost: 0, series: 0 };
  for (let n = 0; n < LIVE_NAMES; n++) {
    let total = 0;
    for (let series = 0; series < perName; series++) total += expected(n, series);
    const c = await countStored(engine, LiveFleet.nameOf(n), from, to, { each: (tags) => expected(n, Number(tags.series)), total });
    for (const k of ['rows', 'pairs', 'doubled', 'lost', 'series'] as const) all[k] += c[k];
  }
  return all;
}

/** The value of backfill series `i` at minute `m` (minutes from the day's start): its sample of the message BackfillSource builds. */
const backfillValue = (i: number, m: number) => sampleValue(m * (BACKFILL_SERIES / SAMPLES_PER_MESSAGE) + Math.floor(i / SAMPLES_PER_MESSAGE), i % SAMPLES_PER_MESSAGE);

/** The engine alone's import bodies in its cheapest shape: 100 series a request, each one line of 144 minutes. */
function* seriesLineBodies(start: number): Generator<string> {
  const minutesPerRequest = 144;
  const seriesPerRequest = 100;
  for (let first = 0; first < BACKFILL_SERIES; first += seriesPerRequest) {
    for (let m0 = 0; m0 < BACKFILL_MINUTES; m0 += minutesPerRequest) {
      const minutes: number[] = [];
      for (let m = m0; m < Math.min(BACKFILL_MINUTES, m0 + minutesPerRequest); m++) minutes.push(m);
      const tsText = minutes.map((m) => start + m * MINUTE_MS).join(',');
      let body = '';
      for (let i = first; i < first + seriesPerRequest; i++) {
        body += `{"metric":{"__name__":"${BACKFILL_METRIC}","series":"${i}"},"values":[${minutes.map((m) => backfillValue(i, m)).join(',')}],"timestamps":[${tsText}]}\n`;
      }
      yield body;
    }
  }
}

/** The engine alone's import bodies shaped as the suite receives the samples: one sample a line, a minute of every series a request, oldest first. */
function* sampleLineBodies(start: number): Generator<string> {
  const prefix = Array.from({ length: BACKFILL_SERIES }, (_, i) => `{"metric":{"__name__":"${BACKFILL_METRIC}","series":"${i}"},"values":[`);
  for (let m = 0; m < BACKFILL_MINUTES; m++) {
    const ts = start + m * MINUTE_MS;
    let body = '';
    for (let i = 0; i < BACKFILL_SERIES; i++) body += `${prefix[i]}${backfillValue(i, m)}],"timestamps":[${ts}]}\n`;
    yield body;
  }
}

/** (a') The engine alone: the backfill's samples into a fresh VictoriaMetrics, JSON lines as `bodies` shapes them, 4 requests in flight, then a sync (snapshot) as the storage makes. */
async function engineBackfill(start: number, bodies: Iterator<string>): Promise<{ perS: number; seconds: number; rssMiB: number; counted: Counted }> {
  solo = await startEngineProcess();
  const pids = () => enginePids(solo!.dataDir);
  const client = soloClient(solo.url);
  const rss = engineRss(pids);
  const total = BACKFILL_SERIES * BACKFILL_MINUTES;
  const t0 = performance.now();
  const worker = async () => {
    for (let body = bodies.next(); !body.done; body = bodies.next()) await client.import(body.value);
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  // What the storage does before it acks: a snapshot, which flushes the engine's in-memory rows to disk. Without it
  // the rows turn up in queries only after the engine's own flush, about 10 s later, whatever their number.
  await client.sync();
  const end = start + (BACKFILL_MINUTES - 1) * MINUTE_MS;
  const done = await queryableAt(() => countStored(client, BACKFILL_METRIC, start, end), total, 120_000);
  const rssMiB = rss.stop();
  const seconds = (done.at - t0) / 1000;
  await solo.cleanup();
  solo = undefined;
  return { perS: total / seconds, seconds, rssMiB, counted: done.counted };
}

/** (a'') The door alone: the backfill's messages into the suite's INGEST stream of a fresh namespace, nothing consuming them. */
async function doorBackfill(start: number): Promise<{ perS: number; seconds: number }> {
  // A test namespace of its own: its cleanup removes the stream, which holds every message (nothing consumed them).
  const ns = await createTestNamespace();
  const nc = await connect({ servers: ns.config.nats.url, name: 'ingest-bench door' });
  try {
    const bus = new Namespace(ns.id);
    await ensureStreams(await nc.jetstreamManager(), bus);
    const source = new BackfillSource(start);
    const run = await publishPhase({ js: nc.jetstream(), subject: bus.subject('metrics.ingest.backfill'), factory: source, idPrefix: `${ns.id}-door`, window: WINDOW, durationMs: DRAIN_TIMEOUT_MS, maxMessages: source.total });
    const seconds = (run.lastAckAt - run.firstAt) / 1000;
    return { perS: (run.acked * SAMPLES_PER_MESSAGE) / seconds, seconds };
  } finally {
    await nc.close();
    await ns.cleanup();
  }
}

/**
 * (b') The engine alone, the live fleet's schedule: every 15 s each series' sample, imported into a fresh
 * VictoriaMetrics as JSON lines of one sample per series (the storage's lines), 10,000 series a request, each request
 * sent at its turn in the schedule (the suite's offered rate), up to 4 in flight. A request late on its turn is the
 * engine falling behind (a request is timed from its turn to the engine's answer). Its CPU is read from /proc, for
 * the first round (every series new) and the rounds after.
 */
async function engineFleet(): Promise<{ perS: number; lagP99Ms: number; lagMaxMs: number; firstRoundCpuS: number; steadyCpuPct: number; rssMiB: number; counted: Counted }> {
  solo = await startEngineProcess();
  const pids = enginePids(solo.dataDir);
  const rss = engineRss(() => pids);
  const cpu = () => pids.reduce((s, pid) => s + (cpuSeconds(pid) ?? 0), 0);
  const client = soloClient(solo.url);
  const perRequest = 10_000;
  const perName = LIVE_SERIES / LIVE_NAMES;
  const requestsPerRound = LIVE_SERIES / perRequest;
  const everyMs = LIVE_INTERVAL_MS / requestsPerRound;
  const total = Math.floor((LIVE_SECONDS * 1000) / everyMs);
  const sentPerRequest = new Array<number>(requestsPerRound).fill(0);
  const lags: number[] = [];
  const t0 = performance.now();
  const from = Date.now();
  const cpu0 = cpu();
  let cpuAfterFirst: number | undefined;
  let firstRoundEnd = 0;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const k = next++;
      const due = t0 + k * everyMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const r = k % requestsPerRound;
      const first = r * perRequest;
      const ts = Date.now();
      let body = '';
      for (let i = first; i < first + perRequest; i++) body += `{"metric":{"__name__":"${LiveFleet.nameOf(Math.floor(i / perName))}","series":"${i % perName}"},"values":[${(k % 1000) + (i % 100) / 1000}],"timestamps":[${ts}]}\n`;
      await client.import(body);
      sentPerRequest[r]!++;
      lags.push(performance.now() - due);
      if (k === requestsPerRound - 1) {
        cpuAfterFirst = cpu();
        firstRoundEnd = performance.now();
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  await client.sync();
  const end = performance.now();
  const cpuEnd = cpu();
  const rssMiB = rss.stop();
  const to = Date.now();
  const counted = await countFleet(client, from - 1000, to, (n, series) => sentPerRequest[Math.floor((n * perName + series) / perRequest)]!);
  await solo.cleanup();
  solo = undefined;
  return {
    perS: counted.rows / ((end - t0) / 1000),
    lagP99Ms: quantile([...lags].sort((x, y) => x - y), 0.99),
    lagMaxMs: Math.max(...lags),
    firstRoundCpuS: (cpuAfterFirst ?? cpuEnd) - cpu0,
    steadyCpuPct: cpuAfterFirst === undefined ? NaN : (100 * (cpuEnd - cpuAfterFirst)) / ((end - firstRoundEnd) / 1000),
    rssMiB,
    counted,
  };
}

async function main(): Promise<void> {
  log(`ingest bench: shipped defaults${CHANGED.length ? ` except ${CHANGED.join(', ')}` : ''}; ${ALERTING ? 'processor, storage and alert-manager' : 'processor and storage'}, one replica each; ` +
    `${SAMPLES_PER_MESSAGE} samples per message, ${WINDOW} publishes in flight`);
  const phaseEngine = () => (suiteEngine ? enginePids(suiteEngine.dataDir) : []);
  const natsPids = pidsByComm('nats-server');
  const redisPids = pidsByComm('redis-server');
  const watched = (): Watched[] => [
    ...replicas.map((r) => ({ label: r.label, pids: () => [r.proc.child.pid!] })),
    { label: 'victoria-metrics', pids: phaseEngine },
    { label: 'nats-server', pids: () => natsPids },
    { label: 'redis-server', pids: () => redisPids },
    { label: 'postgres (all)', pids: () => pidsByComm('postgres') },
  ];
  // The bench itself builds and publishes the load on the same cores: its share is shown beside the suite's.
  const cpuGroups = (): Watched[] => [...watched(), { label: 'bench publisher', pids: () => [process.pid] }];

  // (a) Backfill ---------------------------------------------------------------------------------------------
  log(`\n(a) Backfill: ${fmt(BACKFILL_SERIES)} series × ${fmt(BACKFILL_MINUTES)} minutes, oldest first, as fast as the suite takes it`);
  const a = await startPhase('backfill');
  const js = a.nc.jetstream();
  // The day ends at the current minute, computed just before publishing: its oldest minute is 1440 − BACKFILL_MINUTES minutes younger than the raw retention.
  const dayEnd = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
  const backfill = new BackfillSource(dayEnd - (BACKFILL_MINUTES - 1) * MINUTE_MS);
  const backfillTotal = backfill.total * SAMPLES_PER_MESSAGE;
  log(`  ${new Date(backfill.start).toISOString()} … ${new Date(backfill.end).toISOString()}: ${fmt(backfillTotal)} samples in ${fmt(backfill.total)} messages`);
  const bfRss = new RssSampler(watched());
  const bfCpu = new CpuSampler(cpuGroups());
  const bf = await publishPhase({
    js, subject: `${a.ns.id}.metrics.ingest.backfill`, factory: backfill, idPrefix: `${a.ns.id}-backfill`, window: WINDOW,
    durationMs: DRAIN_TIMEOUT_MS, maxMessages: backfill.total, gate: () => a.monitor.backlog < MAX_PENDING, onPublish: () => a.monitor.published(),
  });
  log(`  published ${fmt(bf.acked)} messages in ${fmt((bf.stoppedAt - bf.firstAt) / 1000, 1)} s (paused at the backlog limit ${fmt((100 * bf.gatedMs) / (bf.stoppedAt - bf.firstAt))} % of the time); ${bf.failed} failed, ${bf.retries} retries`);
  await waitFor(() => (a.monitor.latest.stored >= backfillTotal ? true : undefined), DRAIN_TIMEOUT_MS, 'the backfill stored', 200).catch(() => undefined);
  const bfExpected = { each: () => BACKFILL_MINUTES, total: backfillTotal };
  const bfDone = await queryableAt(() => countStored(a.engine, BACKFILL_METRIC, backfill.start, backfill.end, bfExpected), backfillTotal, 60_000);
  const bfCpuReport = bfCpu.stop();
  bfRss.stop();
  const bfSeconds = (bfDone.at - bf.firstAt) / 1000;
  const backfillPerS = bfDone.counted.rows / bfSeconds;
  log(`  suite: ${fmt(backfillPerS)} samples/s from the first publish until all were queryable (${fmt(bfSeconds, 1)} s); ` +
    `engine holds ${fmt(bfDone.counted.rows)} of ${fmt(backfillTotal)}; lost ${fmt(bfDone.counted.lost)}, doubled ${fmt(bfDone.counted.doubled)}`);
  log(`  CPU while backfilling: ${cpuLine(bfCpuReport)}`);
  const bfRssMiB = suiteRssMiB(bfRss);
  log(`  peak VmRSS: ${bfRss.watched.map((w, i) => `${w.label} ${fmt(bfRss.max(i))} MiB`).join(', ')}; services + engine ${fmt(bfRssMiB)} MiB`);

  // (c) Hot series, in the backfill's namespace (secondary) ---------------------------------------------------
  let hot: { perS: number; lost: number; doubled: number } | undefined;
  if (HOT_SECONDS > 0) {
    log(`\n(c) Hot series (secondary): ${fmt(SERIES)} series of ${METRIC}, as fast as the suite takes them, ${HOT_SECONDS} s`);
    const factory = new MessageFactory();
    const storedBefore = a.monitor.latest.stored;
    const from = Date.now();
    const run = await publishPhase({
      js, subject: `${a.ns.id}.metrics.ingest.bench`, factory, idPrefix: `${a.ns.id}-hot`, window: WINDOW, durationMs: HOT_SECONDS * 1000,
      gate: () => a.monitor.backlog < MAX_PENDING, onPublish: () => a.monitor.published(),
    });
    const drain = await a.monitor.drained(DRAIN_TIMEOUT_MS);
    const lastAt = a.monitor.reachedAt(drain.point.stored, run.firstAt);
    const published = factory.builtPerGroup.reduce((s, n) => s + n, 0) * SAMPLES_PER_MESSAGE;
    const counted = await countStored(a.engine, METRIC, from - 1000, Date.now() + 1000, { each: (tags) => factory.builtPerGroup[Math.floor(Number(tags.series) / SAMPLES_PER_MESSAGE)] ?? 0, total: published });
    hot = { perS: counted.rows / ((lastAt - run.firstAt) / 1000), lost: counted.lost, doubled: counted.doubled };
    log(`  ${fmt(hot.perS)} samples/s from the first publish to the last stored (${fmt(drain.point.stored - storedBefore)} stored${drain.drained ? '' : ', NOT drained'}); ` +
      `lost ${fmt(hot.lost)}, doubled ${fmt(hot.doubled)} (of ${fmt(published)} published, ${GROUPS} messages a round)`);
  }
  await a.monitor.stop();
  await endPhase();

  // (a') The engine alone, with nothing of the suite running --------------------------------------------------
  const engineAlone = await engineBackfill(backfill.start, seriesLineBodies(backfill.start));
  log(`\n(a') Engine alone, the same backfill (fresh VictoriaMetrics, JSON lines, 4 requests in flight, 100 series × 144 min each): ${fmt(engineAlone.perS)} samples/s ` +
    `(${fmt(engineAlone.counted.rows)} queryable after ${fmt(engineAlone.seconds, 1)} s; its peak RSS ${fmt(engineAlone.rssMiB)} MiB)`);
  log(`  → the suite backfills at ${fmt((100 * backfillPerS) / engineAlone.perS, 1)} % of the engine alone, its services + engine resident in ${fmt(bfRssMiB / engineAlone.rssMiB, 1)}× the engine alone's memory`);
  // Beside it, the engine fed the lines as the suite gets the samples: the line shape alone moves its rate.
  const engineSampleLines = await engineBackfill(backfill.start, sampleLineBodies(backfill.start));
  log(`  the engine alone fed one sample a line, a minute of every series a request (as the messages carry them), oldest first: ${fmt(engineSampleLines.perS)} samples/s ` +
    `(${fmt(engineSampleLines.seconds, 1)} s) → the suite backfills at ${fmt((100 * backfillPerS) / engineSampleLines.perS, 1)} % of it`);
  const door = await doorBackfill(backfill.start);
  log(`\n(a'') The door alone, the same messages (the suite's INGEST stream, nothing consuming it, ${WINDOW} publishes in flight): ${fmt(door.perS)} samples/s acked by JetStream (${fmt(door.seconds, 1)} s)`);
  log(`  → JetStream alone takes ${fmt((100 * door.perS) / engineAlone.perS, 1)} % of the engine alone's rate; the suite backfills at ${fmt((100 * backfillPerS) / door.perS, 1)} % of its door's`);

  // (b) Live fleet -------------------------------------------------------------------------------------------
  const rate = LIVE_SERIES / SAMPLES_PER_MESSAGE / (LIVE_INTERVAL_MS / 1000);
  log(`\n(b) Live fleet: ${fmt(LIVE_SERIES)} series (${LIVE_NAMES} names × ${fmt(LIVE_SERIES / LIVE_NAMES)}) every ${LIVE_INTERVAL_MS / 1000} s for ${LIVE_SECONDS} s: ` +
    `${fmt(rate)} messages/s, ${fmt(rate * SAMPLES_PER_MESSAGE)} samples/s offered`);
  const b = await startPhase('live');
  const rollups = new RollupLag(b.ns);
  const fleet = new LiveFleet(LIVE_SERIES, LIVE_NAMES);
  const probe = new LatencyProbe(b.ns.config.storage.engine.url.replace(/\/+$/, ''), b.ns.id);
  probe.start();
  const liveRss = new RssSampler(watched());
  const liveCpu = new CpuSampler(cpuGroups());
  const liveFrom = Date.now();
  const storedBefore = b.monitor.latest.stored;
  let round0 = 0;
  const live = await publishPhase({
    js: b.nc.jetstream(), subject: `${b.ns.id}.metrics.ingest.fleet`, factory: fleet, idPrefix: `${b.ns.id}-live`, window: WINDOW,
    durationMs: LIVE_SECONDS * 1000, ratePerS: rate,
    onPublish: (msg, at) => {
      b.monitor.published();
      if (msg.seq < fleet.groups) round0++;
      probe.track(msg.seq < fleet.groups ? 'first round' : 'steady', msg, at);
    },
  });
  const liveCpuReport = liveCpu.stop();
  const stoppedEpoch = Date.now();
  rollups.track = false;
  const rollupLagAtStopS = (stoppedEpoch - (await rollups.read())) / 1000;
  const publishSeconds = (live.stoppedAt - live.firstAt) / 1000;
  log(`  published ${fmt(live.acked)} messages in ${fmt(publishSeconds, 1)} s = ${fmt(live.acked / publishSeconds)} messages/s (offered ${fmt(rate)}); ${live.failed} failed, ${live.retries} retries; ` +
    `backlog when publishing stopped: ${fmt(b.monitor.backlog)} messages`);
  const liveDrain = await b.monitor.drained(DRAIN_TIMEOUT_MS);
  liveRss.stop();
  await probe.settle(10_000);
  await probe.stop();
  const lastStoredAt = b.monitor.reachedAt(liveDrain.point.stored, live.firstAt);
  const storedLive = liveDrain.point.stored - storedBefore;
  const liveSeconds = (lastStoredAt - live.firstAt) / 1000;
  const liveTo = Date.now();
  const liveCount = await countFleet(b.engine, liveFrom - 1000, liveTo, (n, series) => fleet.expected(n, series));
  const livePerS = storedLive / liveSeconds;
  const all = probe.stats('first round', 'steady');
  const steady = probe.stats('steady');
  const first = probe.stats('first round');
  log(`  drained${liveDrain.drained ? '' : ' — NOT within the timeout'} ${fmt((lastStoredAt - live.stoppedAt) / 1000, 1)} s after the publisher stopped; ` +
    `${fmt(livePerS)} samples/s stored from the first publish to the last stored (${fmt(storedLive)} in ${fmt(liveSeconds, 1)} s)`);
  log(`  engine holds ${fmt(liveCount.rows)} samples of ${fmt(liveCount.series)} series; lost ${fmt(liveCount.lost)}, doubled ${fmt(liveCount.doubled)} (per series, against what was published to it)`);
  log(`  publish-to-queryable (${all.n} probes, ${probe.unseen('steady') + probe.unseen('first round')} unseen; export every ${POLL_MS} ms, mean ${fmt(probe.meanPollMs, 1)} ms; upper bounds): ` +
    `p50 ${fmt(all.p50)} ms, p99 ${fmt(all.p99)} ms, max ${fmt(all.max)} ms; first round (${fmt(round0)} messages, every series new) p50 ${fmt(first.p50)} / p99 ${fmt(first.p99)} ms; ` +
    `after it p50 ${fmt(steady.p50)} / p99 ${fmt(steady.p99)} ms`);
  // The minute publishing stopped in is the fleet's last; it is computed once the settle time after it has passed.
  const lastMinuteEnd = Math.floor(stoppedEpoch / 60_000) * 60_000 + 60_000;
  const caughtUpAt = await rollups.reached(lastMinuteEnd, ROLLUP_WAIT_MS);
  await rollups.stop();
  const rollupCaughtUpS = caughtUpAt === undefined ? undefined : (caughtUpAt - stoppedEpoch) / 1000;
  log(`  1m rollups (computed up to the 1m mark history reads plan with, read every 5 s): at most ${fmt(rollups.maxLagMs / 1000)} s behind the clock while publishing, ` +
    `${fmt(rollupLagAtStopS)} s when it stopped; ` +
    (rollupCaughtUpS === undefined
      ? `NOT caught up with the fleet's last minute within ${ROLLUP_WAIT_MS / 1000} s (computed up to ${new Date(rollups.computedUpTo).toISOString()})`
      : `caught up with the fleet's last minute ${fmt(rollupCaughtUpS)} s after publishing stopped (storage.rollupSettle ${b.ns.config.storage.rollupSettle} included)`));
  log(`  CPU while publishing: ${cpuLine(liveCpuReport)}`);
  log(`  VmRSS (every 5 s; victoria-metrics is the phase's own engine, postgres all its processes):`);
  liveRss.print();
  const rssMiB = suiteRssMiB(liveRss);
  log(`  peak VmRSS: ${liveRss.watched.map((w, i) => `${w.label} ${fmt(liveRss.max(i))} MiB`).join(', ')}; services + engine ${fmt(rssMiB)} MiB`);
  await b.monitor.stop();
  await endPhase();

  // (b') The engine alone, the fleet's schedule, with nothing of the suite running -----------------------------
  const fleetAlone = await engineFleet();
  log(`\n(b') Engine alone, the same fleet schedule (fresh VictoriaMetrics, JSON lines of one sample per series, 10,000 series a request at its turn, up to 4 in flight): ` +
    `${fmt(fleetAlone.perS)} samples/s stored; requests answered after their turn p99 ${fmt(fleetAlone.lagP99Ms)} ms, max ${fmt(fleetAlone.lagMaxMs)} ms; ` +
    `lost ${fmt(fleetAlone.counted.lost)}, doubled ${fmt(fleetAlone.counted.doubled)}`);
  log(`  its CPU: the first round (every series new) ${fmt(fleetAlone.firstRoundCpuS, 1)} s of CPU; after it ${fmt(fleetAlone.steadyCpuPct)} % of a core; its peak RSS ${fmt(fleetAlone.rssMiB)} MiB`);

  // Summary --------------------------------------------------------------------------------------------------
  const lost = bfDone.counted.lost + liveCount.lost;
  const doubled = bfDone.counted.doubled + liveCount.doubled;
  log(`\nSummary${CHANGED.length ? ` (settings changed from the shipped defaults: ${CHANGED.join(', ')})` : ' (shipped defaults)'}`);
  log(`  live fleet ${fmt(LIVE_SERIES)} series / 15 s   ${fmt(livePerS).padStart(10)} samples/s stored (offered ${fmt(rate * SAMPLES_PER_MESSAGE)}), p50 ${fmt(all.p50)} ms, p99 ${fmt(all.p99)} ms publish → queryable`);
  log(`  live fleet, engine alone       ${fmt(fleetAlone.perS).padStart(10)} samples/s stored, answered after their turn p99 ${fmt(fleetAlone.lagP99Ms)} ms → suite/engine ${fmt(livePerS / fleetAlone.perS, 3)}`);
  log(`  backfill of a day, suite      ${fmt(backfillPerS).padStart(10)} samples/s until queryable`);
  log(`  backfill of a day, engine     ${fmt(engineAlone.perS).padStart(10)} samples/s until queryable → suite/engine ${fmt(backfillPerS / engineAlone.perS, 3)}`);
  log(`  … engine, a sample a line      ${fmt(engineSampleLines.perS).padStart(10)} samples/s until queryable → suite/engine ${fmt(backfillPerS / engineSampleLines.perS, 3)}`);
  log(`  backfill of a day, door alone ${fmt(door.perS).padStart(10)} samples/s acked by JetStream → door/engine ${fmt(door.perS / engineAlone.perS, 3)}, suite/door ${fmt(backfillPerS / door.perS, 3)}`);
  if (hot) log(`  hot 10,000 series (secondary) ${fmt(hot.perS).padStart(10)} samples/s`);
  log(`  lost ${fmt(lost)}, doubled ${fmt(doubled)}`);
  log(`  peak RSS, services + engine: live fleet ${fmt(rssMiB)} MiB, ${fmt(rssMiB / fleetAlone.rssMiB, 2)}× the engine alone's ${fmt(fleetAlone.rssMiB)} MiB; ` +
    `backfill ${fmt(bfRssMiB)} MiB, ${fmt(bfRssMiB / engineAlone.rssMiB, 2)}× the engine alone's ${fmt(engineAlone.rssMiB)} MiB (nats-server, redis-server and postgres apart, above)`);

  await cleanup();
  console.log(
    JSON.stringify({
      bench: 'ingest',
      samples_per_s: roundTo(livePerS),
      backfill_per_s: roundTo(backfillPerS),
      engine_backfill_per_s: roundTo(engineAlone.perS),
      ratio_to_engine: roundTo(backfillPerS / engineAlone.perS, 3),
      engine_sample_lines_backfill_per_s: roundTo(engineSampleLines.perS),
      ratio_to_engine_sample_lines: roundTo(backfillPerS / engineSampleLines.perS, 3),
      door_backfill_per_s: roundTo(door.perS),
      door_ratio_to_engine: roundTo(door.perS / engineAlone.perS, 3),
      live_series: LIVE_SERIES,
      live_p99_ms: roundTo(all.p99, 1),
      engine_live_per_s: roundTo(fleetAlone.perS),
      live_ratio_to_engine: roundTo(livePerS / fleetAlone.perS, 3),
      rollup_lag_max_s: roundTo(rollups.maxLagMs / 1000),
      rollup_caught_up_s: rollupCaughtUpS === undefined ? null : roundTo(rollupCaughtUpS),
      lost,
      doubled,
      rss_mib: roundTo(rssMiB),
      engine_rss_mib: roundTo(fleetAlone.rssMiB),
      rss_ratio_to_engine: roundTo(rssMiB / fleetAlone.rssMiB, 2),
      backfill_rss_mib: roundTo(bfRssMiB),
      engine_backfill_rss_mib: roundTo(engineAlone.rssMiB),
    }),
  );
}

main().catch(async (err: unknown) => {
  console.error(err);
  for (const r of replicas) if (r.proc.child.exitCode !== null) console.error(`--- ${r.label} output ---\n${r.proc.output()}`);
  await cleanup().catch(() => undefined);
  process.exit(1);
});
