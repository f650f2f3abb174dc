/**
 * Measures end-to-end ingestion of the suite on this machine — JetStream publish → processor → SAMPLES →
 * storage → PostgreSQL — and compares it with the raw limits of its parts, against the real NATS, PostgreSQL
 * and Redis, in a fresh namespace:
 *
 * 1. Raw limits, before the suite runs (nothing else of ours competes): (a) JetStream publish alone of the same
 *    100-sample JSON messages into a scratch stream, (b) PostgreSQL COPY alone of the same rows into a scratch
 *    table with a (series_id, ts) b-tree index, 10,000 rows per COPY.
 * 2. Sustained load: processor, storage and alert-manager (BENCH_ALERTING=0: without it; its rules are the
 *    configuration's default) run as processes (`--replicas N` of each); 100-sample messages over
 *    10,000 series (`bench_ingest{series=i}`) are published with JetStream acks, BENCH_WINDOW in flight, for
 *    BENCH_SECONDS, as fast as the suite keeps up: publishing pauses while the pipeline's backlog (messages
 *    published whose samples the storage has not stored yet) is at BENCH_MAX_PENDING.
 *    After the publisher stops and the pipeline drained: stored vs published in PostgreSQL (lost, doubled),
 *    samples/s from the first publish to the last sample stored, publish-to-queryable latency, peak RSS, CPU%.
 * 3. Overload (BENCH_OVERLOAD=1, default): twice the measured rate for BENCH_OVERLOAD_SECONDS (60) without backlog
 *    pacing; after the drain nothing may be lost, and VmRSS of each process is sampled every 5 s.
 *
 *   pnpm bench:ingest
 *   BENCH_SECONDS=30 pnpm bench:ingest -- --replicas 2
 *   TMON_CORE__BATCH_SIZE=200 BENCH_OVERLOAD=0 pnpm bench:ingest     (TMON_* settings are passed to the services)
 *
 * Prints a readable summary, then as the last line one JSON object for scripts to pick up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import pg from 'pg';
import { rawSamplesSql } from '@terminusa/metric-store';
import { createTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';
import { MessageFactory, SAMPLES_PER_MESSAGE, SERIES, publishPhase, seriesKeyOf, type BuiltMessage } from './ingest-load.ts';
import { PipelineMonitor, countStored, startIngestReplicas, stopProcess, storageCounter, type MonitorPoint, type Replica } from './ingest-pipeline.ts';
import { copyLimit, dropScratchSchema, jetstreamLimit } from './raw-limits.ts';
import { CpuSampler, memoryMiB, pidsByComm, type CpuGroup, type CpuReport } from './proc-stats.ts';
import { PgActivitySampler, PgBackends } from './pg-activity.ts';

// ---------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------

function envNumber(name: string, dflt: number, check: (n: number) => boolean = (n) => n > 0): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isFinite(n) || !check(n)) throw new Error(`${name} must be a positive number, got ${raw}`);
  return n;
}

function replicasArg(): number {
  const argv = process.argv.slice(2);
  const i = argv.findIndex((a) => a === '--replicas' || a.startsWith('--replicas='));
  const raw = i < 0 ? process.env.BENCH_REPLICAS : argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1];
  const n = raw === undefined ? 1 : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--replicas must be a positive integer, got ${raw}`);
  return n;
}

const SECONDS = envNumber('BENCH_SECONDS', 60);
const OVERLOAD = (process.env.BENCH_OVERLOAD ?? '1') !== '0';
// As long as the sustained phase: a minute at twice the capacity shows whether memory stays flat while queues grow.
const OVERLOAD_SECONDS = envNumber('BENCH_OVERLOAD_SECONDS', 60);
const RAW_SECONDS = envNumber('BENCH_RAW_SECONDS', 10);
/** Publishes awaiting their JetStream ack, at most. */
const WINDOW = envNumber('BENCH_WINDOW', 256);
/**
 * Backlog of the pipeline (messages published but not yet stored) at which publishing pauses: beyond what the
 * suite itself admits in flight, a backlog is only queueing delay added to every sample's latency. The default
 * is that admission: core.queueSize (1000) ingest messages at the processor (its max-ack-pending) plus as many
 * again in SAMPLES messages at the storage (sampleMessagesInFlight). A fuller pipeline works in fuller batches:
 * on the 2-core test machine 1000 gave ~121k samples/s at p50 0.6 s, 2000 ~142k at p50 1.3 s.
 */
const MAX_PENDING = envNumber('BENCH_MAX_PENDING', 2000);
/** Share of messages whose publish-to-queryable latency is measured. */
const LATENCY_SAMPLE = envNumber('BENCH_LATENCY_SAMPLE', 0.01, (n) => n > 0 && n <= 1);
/** Milliseconds between the visibility queries of the latency probe. */
const POLL_MS = envNumber('BENCH_POLL_MS', 50);
/** Messages published (and drained) before the measured run: creates all 10,000 series, warms the JITs. */
const WARMUP_MESSAGES = envNumber('BENCH_WARMUP_MESSAGES', 3 * (SERIES / SAMPLES_PER_MESSAGE));
const DRAIN_TIMEOUT_MS = envNumber('BENCH_DRAIN_TIMEOUT_S', 600) * 1000;
const REPLICAS = replicasArg();
/** Whether the alert-manager runs too (default): it reads every sample from SAMPLES, as in the deployed suite. */
const ALERTING = (process.env.BENCH_ALERTING ?? '1') !== '0';

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : String(n));
const round = (n: number, digits = 0) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);

/** The q-quantile (0..1) of ascending values, nearest rank. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
}

function log(line = ''): void {
  console.log(line);
}

// ---------------------------------------------------------------------------------------------------------
// Publish-to-queryable latency
// ---------------------------------------------------------------------------------------------------------

/**
 * Publish-to-queryable latency of a random ~1 % of the messages.
 *
 * Method: for each sampled message we note when its publish began (performance.now()) and the exact
 * (series key, ts) of its first sample. A message's 100 samples are committed in one transaction together
 * with its idempotency record (PgSampleStore.write), so the first sample being visible means the whole message
 * is. Every POLL_MS one query asks which of the still-unseen probes exist, reading raw samples as history reads
 * do (rawSamplesSql: only the blocks that start in the minute up to ts; without that bound each lookup read every
 * earlier block of its series, and under overload the probes cost PostgreSQL 40 % of a core). ts is passed as the
 * same ISO text the storage writes, so equality is exact. (Looking at max(ts) per series instead would be wrong here: messages are
 * processed concurrently and by several replicas, so a later message of a series can be stored before an
 * earlier one.) A row that a query sees was committed before that query's snapshot, which is taken just after
 * we send it, and after the previous query's; so latency = (send time of the first query that sees it) −
 * (publish start) is an upper bound, at most one poll interval plus one query's time above the truth.
 */
class LatencyProbe {
  private readonly pending = new Map<number, { key: string; iso: string; at: number; phase: string }>();
  readonly results = new Map<string, number[]>();
  private running = true;
  private loop: Promise<void> | undefined;
  polls = 0;
  private pollMs = 0;

  constructor(private readonly db: pg.Client) {}

  track(phase: string, msg: BuiltMessage, at: number): void {
    if (Math.random() >= LATENCY_SAMPLE) return;
    this.pending.set(msg.seq, { key: seriesKeyOf(msg.group * SAMPLES_PER_MESSAGE), iso: new Date(msg.ts).toISOString(), at, phase });
  }

  start(): void {
    this.loop = (async () => {
      while (this.running) {
        const sentAt = performance.now();
        if (this.pending.size > 0) await this.poll(sentAt);
        await sleep(Math.max(1, POLL_MS - (performance.now() - sentAt)));
      }
    })();
  }

  private async poll(sentAt: number): Promise<void> {
    const seqs = [...this.pending.keys()];
    const probes = seqs.map((s) => this.pending.get(s)!);
    const { rows } = await this.db.query<{ i: number }>(
      `SELECT p.i FROM unnest($1::text[], $2::timestamptz[], $3::int[]) AS p(key, ts, i)
         JOIN series se ON se.key = p.key
        WHERE EXISTS (${rawSamplesSql('se.id', 'p.ts', 'p.ts', true)})`,
      [probes.map((p) => p.key), probes.map((p) => p.iso), probes.map((_, i) => i)],
    );
    this.polls++;
    this.pollMs += performance.now() - sentAt;
    for (const { i } of rows) {
      const probe = probes[i]!;
      this.pending.delete(seqs[i]!);
      const list = this.results.get(probe.phase) ?? [];
      list.push(sentAt - probe.at);
      this.results.set(probe.phase, list);
    }
  }

  /** Probes of `phase` not seen (yet). */
  unseen(phase: string): number {
    return [...this.pending.values()].filter((p) => p.phase === phase).length;
  }

  /** Waits until every probe was seen or `timeoutMs` passed. */
  async settle(timeoutMs: number): Promise<void> {
    await waitFor(() => (this.pending.size === 0 ? true : undefined), timeoutMs, 'latency probes', 50).catch(() => undefined);
  }

  get meanPollMs(): number {
    return this.pollMs / Math.max(1, this.polls);
  }

  stats(phase: string): { n: number; p50: number; p90: number; p99: number; max: number } {
    const sorted = [...(this.results.get(phase) ?? [])].sort((a, b) => a - b);
    return { n: sorted.length, p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------------------

/** VmRSS of every replica every `intervalMs`, from now until stopped. */
class RssSampler {
  readonly rows: { t: number; rss: (number | undefined)[] }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = performance.now();

  constructor(
    private readonly replicas: readonly Replica[],
    intervalMs = 5000,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    this.rows.push({ t: (performance.now() - this.t0) / 1000, rss: this.replicas.map((r) => memoryMiB(r.proc.child.pid!)?.rss) });
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  first(i: number): number {
    return this.rows[0]?.rss[i] ?? NaN;
  }

  max(i: number): number {
    return Math.max(...this.rows.map((r) => r.rss[i] ?? -Infinity));
  }

  print(): void {
    log(`    ${'t (s)'.padStart(6)}  ${this.replicas.map((r) => r.label.padStart(13)).join('')}`);
    for (const row of this.rows) log(`    ${fmt(row.t).padStart(6)}  ${row.rss.map((v) => (v === undefined ? '—' : `${fmt(v)} MiB`).padStart(13)).join('')}`);
  }
}

function cpuLine(report: CpuReport): string {
  const others = report.others.filter((o) => o.percent >= 5);
  return `${report.groups.map((g) => `${g.label} ${fmt(g.percent)} %`).join(', ')}; machine ${fmt(report.machinePercent)} % of ${report.cores} cores` +
    (others.length ? `; others: ${others.map((o) => `${o.name} ${fmt(o.percent)} %`).join('; ')}` : '');
}

/** CPU per process; with `samplesPerS`, also the CPU time each spends per sample. */
function printCpu(report: CpuReport, samplesPerS?: number): void {
  const sorted = [...report.groups].sort((a, b) => b.percent - a.percent);
  log(`    over ${fmt(report.seconds, 1)} s; % of one core (this machine has ${report.cores}, so ${report.cores * 100} % is all of it)` +
    `${samplesPerS ? `, and CPU µs per sample at ${fmt(samplesPerS)} samples/s` : ''}:`);
  const perSample = (percent: number) => (samplesPerS ? `${fmt((percent / 100) * (1e6 / samplesPerS), 1).padStart(8)} µs` : '');
  for (const g of sorted) log(`      ${g.label.padEnd(34)} ${fmt(g.percent, 1).padStart(6)} %${perSample(g.percent)}`);
  const ours = report.groups.reduce((s, g) => s + g.percent, 0);
  log(`      ${'everything else on the machine'.padEnd(34)} ${fmt(Math.max(0, report.machinePercent * report.cores - ours), 1).padStart(6)} %`);
  log(`      ${'whole machine'.padEnd(34)} ${fmt(report.machinePercent, 1).padStart(6)} % of all cores`);
  const others = report.others.filter((o) => o.percent >= 1);
  if (others.length) log(`    busiest other processes: ${others.map((o) => `${o.name} ${fmt(o.percent)} %`).join('; ')}`);
}

// ---------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------

let ns: TestNamespace | undefined;
let nc: NatsConnection | undefined;
let monitorNc: NatsConnection | undefined;
const replicas: Replica[] = [];
const clients: pg.Client[] = [];
let scratchStream: string | undefined;
let scratchSchema: string | undefined;
let cleaned: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await Promise.allSettled(replicas.map((r) => stopProcess(r.proc)));
    await Promise.allSettled(clients.map((c) => c.end()));
    if (scratchStream && nc) {
      const jsm = await nc.jetstreamManager();
      await jsm.streams.delete(scratchStream).catch(() => undefined);
    }
    if (scratchSchema && ns) await dropScratchSchema(ns.config.database.url, scratchSchema).catch(() => undefined);
    await Promise.allSettled([nc?.close(), monitorNc?.close()]);
    await ns?.cleanup();
  })();
  return cleaned;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping the services and removing the namespace…`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function startReplicas(): Promise<void> {
  if (!ns) throw new Error('no namespace');
  await startIngestReplicas(ns, REPLICAS, replicas, { alerting: ALERTING });
}

async function main(): Promise<void> {
  log(`ingest bench: ${SERIES.toLocaleString('en-US')} series, ${SAMPLES_PER_MESSAGE} samples per message, ${WINDOW} publishes in flight, ` +
    `${SECONDS} s sustained (backlog ≤ ${MAX_PENDING} messages)${OVERLOAD ? `, ${OVERLOAD_SECONDS} s overload` : ''}, ${REPLICAS} replica(s) each of processor and storage${ALERTING ? " and alert-manager" : ""}`);
  ns = await createTestNamespace();
  log(`namespace ${ns.id}`);
  nc = await connect({ servers: ns.config.nats.url, name: 'ingest-bench publisher' });
  monitorNc = await connect({ servers: ns.config.nats.url, name: 'ingest-bench monitor' });
  const js = nc.jetstream();
  const jsm = await monitorNc.jetstreamManager();
  const natsPids = pidsByComm('nats-server');
  const redisPids = pidsByComm('redis-server');
  const infra: CpuGroup[] = [
    { label: 'bench (this process)', pids: () => [process.pid] },
    { label: 'nats-server', pids: () => natsPids },
    { label: 'postgres (all)', pids: () => pidsByComm('postgres') },
    { label: 'redis-server', pids: () => redisPids },
  ];

  // 1. Raw limits ------------------------------------------------------------------------------------------
  log(`\n1. Raw limits (${RAW_SECONDS} s each, before the suite runs)`);
  let cpu = new CpuSampler(infra);
  scratchStream = `${ns.id}_BENCH_SCRATCH`;
  const jsRaw = await jetstreamLimit(js, await nc.jetstreamManager(), ns.id, RAW_SECONDS, WINDOW);
  const jsCpu = cpu.stop();
  await jsm.streams.delete(jsRaw.stream).catch(() => undefined);
  scratchStream = undefined;
  log(`  (a) JetStream publish alone: ${fmt(jsRaw.perS)} samples/s (${fmt(jsRaw.perS / SAMPLES_PER_MESSAGE)} messages/s, ${fmt(jsRaw.result.acked)} acked, ${jsRaw.result.failed} failed)`);
  log(`      cpu: ${cpuLine(jsCpu)}`);
  scratchSchema = `${ns.id}_copybench`;
  cpu = new CpuSampler(infra);
  const copyRaw = await copyLimit(ns.config.database.url, scratchSchema, RAW_SECONDS);
  const copyCpu = cpu.stop();
  await dropScratchSchema(ns.config.database.url, scratchSchema);
  scratchSchema = undefined;
  log(`  (b) PostgreSQL COPY alone:   ${fmt(copyRaw.perS)} rows/s (${fmt(copyRaw.rows)} rows in chunks of 10,000, one connection, b-tree on (series_id, ts))`);
  log(`      cpu: ${cpuLine(copyCpu)}`);

  // 2. The suite --------------------------------------------------------------------------------------------
  log(`\n2. Sustained end-to-end load`);
  await startReplicas();
  log(`  started ${replicas.map((r) => `${r.label} (pid ${r.proc.child.pid})`).join(', ')}`);
  const db = new pg.Client({ connectionString: ns.config.database.url, application_name: 'ingest-bench' });
  const probeDb = new pg.Client({ connectionString: ns.config.database.url, application_name: 'ingest-bench latency probe' });
  for (const c of [db, probeDb]) {
    clients.push(c);
    await c.connect();
    await c.query(`SET search_path TO ${pg.escapeIdentifier(ns.config.database.schema)}`);
  }
  const storage = replicas.filter((r) => r.proc.name === 'storage');
  const monitor = new PipelineMonitor(jsm, ns, storage);
  // PostgreSQL's CPU split by whom a backend serves: each storage replica, this bench, and the rest.
  const backends = new PgBackends(db, [...storage.map((r) => ({ label: r.label, pid: r.proc.child.pid! })), { label: 'bench', pid: process.pid }]);
  await backends.refresh();
  const storagePgPids = () => storage.flatMap((r) => backends.of(r.label));
  const suiteGroups: CpuGroup[] = [
    ...replicas.map((r) => ({ label: r.label, pids: () => [r.proc.child.pid!] })),
    ...storage.map((r) => ({ label: `postgres ← ${r.label}'s backends`, pids: () => backends.of(r.label) })),
    { label: 'postgres ← bench queries', pids: () => backends.of('bench') },
    { label: 'postgres, the rest (bg, others)', pids: () => pidsByComm('postgres').filter((p) => !backends.all().includes(p)) },
    ...infra.filter((g) => !g.label.startsWith('postgres')),
  ];
  const probe = new LatencyProbe(probeDb);
  probe.start();
  const subject = `${ns.id}.metrics.ingest.bench`;
  const factory = new MessageFactory();
  const idPrefix = `${ns.id}-load`;
  const gate = () => monitor.backlog < MAX_PENDING;

  // Warm-up: every series is created once (INSERT INTO series), JITs and pools warm; then drained.
  const warm = await publishPhase({ js, subject, factory, idPrefix, window: WINDOW, durationMs: 120_000, maxMessages: WARMUP_MESSAGES, gate, onPublish: () => monitor.published() });
  const warmDrain = await monitor.drained(DRAIN_TIMEOUT_MS);
  if (!warmDrain.drained) throw new Error('the warm-up did not drain');
  let published = warm.acked;
  log(`  warm-up: ${fmt(warm.acked)} messages (${fmt(warm.acked * SAMPLES_PER_MESSAGE)} samples) stored; all ${fmt(SERIES)} series exist`);

  // The measured run.
  const before = await countStored(db);
  const storedBefore = monitor.latest.stored;
  const pendingRows = async () => (await Promise.all(storage.map((r) => storageCounter(r.opsPort, 'tmon_storage_rollup_pending_rows_total')))).reduce((a, b) => a + b, 0);
  const pendingBefore = await pendingRows();
  const mainCpu = new CpuSampler(suiteGroups, 1000, (pid) => backends.describe(pid));
  const activity = new PgActivitySampler(await extraClient(ns), storagePgPids);
  const mainRss = new RssSampler(replicas);
  const main = await publishPhase({
    js, subject, factory, idPrefix, window: WINDOW, durationMs: SECONDS * 1000, gate,
    onPublish: (msg, at) => {
      monitor.published();
      probe.track('main', msg, at);
    },
  });
  const mainCpuReport = mainCpu.stop();
  const mainActivity = await activity.stop();
  published += main.acked;
  log(`  published ${fmt(main.acked)} messages (${fmt(main.acked * SAMPLES_PER_MESSAGE)} samples) in ${fmt((main.stoppedAt - main.firstAt) / 1000, 1)} s; ` +
    `paused at the backlog limit ${fmt((100 * main.gatedMs) / (main.stoppedAt - main.firstAt))} % of the time; ${main.failed} failed, ${main.retries} retries`);
  const mainDrain = await monitor.drained(DRAIN_TIMEOUT_MS);
  mainRss.stop();
  await probe.settle(5000);
  const afterMain = await countStored(db);
  const mainStoredRows = afterMain.rows - before.rows;
  const lastStoredAt = monitor.reachedAt(mainDrain.point.stored, main.firstAt);
  const e2eSeconds = (lastStoredAt - main.firstAt) / 1000;
  const samplesPerS = mainStoredRows / e2eSeconds;
  const mainLost = Math.max(0, published * SAMPLES_PER_MESSAGE - afterMain.pairs);
  const mainLatency = probe.stats('main');
  const hwmMain = replicas.map((r) => ({ label: r.label, ...memoryMiB(r.proc.child.pid!) }));
  log(`  drained${mainDrain.drained ? '' : ' — NOT within the timeout'}: last sample stored ${fmt((lastStoredAt - main.stoppedAt) / 1000, 1)} s after the publisher stopped`);
  log(`  stored ${fmt(mainStoredRows)} of ${fmt(main.acked * SAMPLES_PER_MESSAGE)} samples (counter: ${fmt(mainDrain.point.stored - storedBefore)}); ` +
    `lost ${fmt(mainLost)}, doubled ${fmt(afterMain.doubled)} (all ${fmt(published * SAMPLES_PER_MESSAGE)} published so far vs ${fmt(afterMain.pairs)} distinct (series, ts) stored)`);
  const pendingWritten = (await pendingRows()) - pendingBefore;
  log(`  rows written for the fold: ${fmt(pendingWritten)} (${fmt((mainDrain.point.stored - storedBefore) / Math.max(1, pendingWritten), 2)} samples per row: a series' samples in one minute of one batch share a row)`);
  log(`  sustained end to end: ${fmt(samplesPerS)} samples/s (${fmt(samplesPerS / SAMPLES_PER_MESSAGE)} messages/s) over ${fmt(e2eSeconds, 1)} s from the first publish to the last sample stored`);
  log(`  publish-to-queryable latency (${mainLatency.n} probes, ${probe.unseen('main')} unseen; poll every ${POLL_MS} ms, mean query ${fmt(probe.meanPollMs, 1)} ms; upper bounds): ` +
    `p50 ${fmt(mainLatency.p50)} ms, p90 ${fmt(mainLatency.p90)} ms, p99 ${fmt(mainLatency.p99)} ms, max ${fmt(mainLatency.max)} ms`);
  log(`  stored samples/s, and backlog in messages (INGEST messages before the processor + SAMPLES messages, each a processor batch, before the storage), every 5 s:`);
  printTimeline(monitor.timeline, main.firstAt, lastStoredAt);
  const queued = meanBacklog(monitor.timeline, main.firstAt, main.stoppedAt);
  log(`  mean backlog while publishing: ${fmt(queued.ingest)} messages before the processor, ${fmt(queued.samples)} before the storage ` +
    `(the queue builds up in front of the slowest stage)`);
  log(`  CPU while publishing:`);
  // Per sample stored while publishing (the counter at the publisher's stop minus at its start).
  const storedWhilePublishing = monitor.storedAt(main.stoppedAt) - monitor.storedAt(main.firstAt);
  printCpu(mainCpuReport, storedWhilePublishing / ((main.stoppedAt - main.firstAt) / 1000));
  log(`  what the storage's PostgreSQL backends were doing while publishing (sampled every 100 ms; % of wall time, summed over backends):`);
  for (const a of mainActivity.activity) log(`      ${a.what.padEnd(48)} ${fmt(a.percent, 1).padStart(6)} %`);
  if (mainActivity.waits.length) log(`    of which waiting on: ${mainActivity.waits.slice(0, 6).map((w) => `${w.what} ${fmt(w.percent, 1)} %`).join(', ')}`);
  log(`  VmRSS every 5 s:`);
  mainRss.print();
  log(`  peak RSS (VmHWM) after the sustained run: ${hwmMain.map((h) => `${h.label} ${fmt(h.hwm ?? NaN)} MiB`).join(', ')}`);

  // 3. Overload --------------------------------------------------------------------------------------------
  let overloadLost = 0;
  let finalCount = afterMain;
  if (OVERLOAD) {
    const rate = (2 * samplesPerS) / SAMPLES_PER_MESSAGE;
    log(`\n3. Overload: ${fmt(rate)} messages/s (2 × the sustained rate) for ${OVERLOAD_SECONDS} s, no backlog pacing`);
    const overCpu = new CpuSampler(suiteGroups, 1000, (pid) => backends.describe(pid));
    const overRss = new RssSampler(replicas);
    const over = await publishPhase({
      js, subject, factory, idPrefix, window: WINDOW, durationMs: OVERLOAD_SECONDS * 1000, ratePerS: rate,
      onPublish: (msg, at) => probe.track('overload', msg, at),
    });
    const overCpuReport = overCpu.stop();
    published += over.acked;
    const peakBacklog = Math.max(...monitor.timeline.filter((p) => p.at >= over.firstAt).map((p) => p.ingest + p.samples));
    log(`  published ${fmt(over.acked)} messages at ${fmt(over.acked / ((over.stoppedAt - over.firstAt) / 1000))} messages/s; ${over.failed} failed; peak backlog ${fmt(peakBacklog)} messages`);
    const overDrain = await monitor.drained(DRAIN_TIMEOUT_MS);
    overRss.stop();
    await probe.settle(5000);
    finalCount = await countStored(db);
    const lastAt = monitor.reachedAt(overDrain.point.stored, over.firstAt);
    overloadLost = Math.max(0, published * SAMPLES_PER_MESSAGE - finalCount.pairs) - mainLost;
    const overLatency = probe.stats('overload');
    log(`  drained${overDrain.drained ? '' : ' — NOT within the timeout'} ${fmt((lastAt - over.stoppedAt) / 1000, 1)} s after the publisher stopped; ` +
      `stored ${fmt(finalCount.rows - afterMain.rows)} of ${fmt(over.acked * SAMPLES_PER_MESSAGE)}; lost ${fmt(overloadLost)}, doubled (whole run) ${fmt(finalCount.doubled)}`);
    log(`  stored ${fmt((finalCount.rows - afterMain.rows) / ((lastAt - over.firstAt) / 1000))} samples/s on average from the first publish to the last sample stored`);
    log(`  latency under overload (queueing included): p50 ${fmt(overLatency.p50)} ms, p99 ${fmt(overLatency.p99)} ms (${overLatency.n} probes)`);
    log(`  CPU while publishing:`);
    printCpu(overCpuReport);
    log(`  VmRSS every 5 s (overload, then drain):`);
    overRss.print();
    log(`  RSS growth over the overload: ${replicas.map((r, i) => `${r.label} ${fmt(overRss.max(i) - overRss.first(i))} MiB (max ${fmt(overRss.max(i))} MiB)`).join(', ')}`);
  }
  await probe.stop();
  await monitor.stop();
  await backends.stop();
  const hwmEnd = replicas.map((r) => ({ label: r.label, ...memoryMiB(r.proc.child.pid!) }));

  // Summary ------------------------------------------------------------------------------------------------
  const lost = Math.max(0, published * SAMPLES_PER_MESSAGE - finalCount.pairs);
  log(`\nSummary`);
  log(`  sustained end to end        ${fmt(samplesPerS).padStart(12)} samples/s   (p50 ${fmt(mainLatency.p50)} ms, p99 ${fmt(mainLatency.p99)} ms publish → queryable)`);
  log(`  JetStream publish alone     ${fmt(jsRaw.perS).padStart(12)} samples/s   → the suite reaches ${fmt((100 * samplesPerS) / jsRaw.perS, 1)} % of it`);
  log(`  PostgreSQL COPY alone       ${fmt(copyRaw.perS).padStart(12)} rows/s      → the suite reaches ${fmt((100 * samplesPerS) / copyRaw.perS, 1)} % of it ` +
    `(per sample row with a b-tree; the storage writes blocks and pending rows, one each per series and minute of a batch)`);
  log(`  lost ${lost}, doubled ${finalCount.doubled} (${fmt(published * SAMPLES_PER_MESSAGE)} samples published in all, ${fmt(finalCount.rows)} rows stored)`);
  log(`  peak RSS (VmHWM): ${hwmEnd.map((h) => `${h.label} ${fmt(h.hwm ?? NaN)} MiB`).join(', ')}`);
  const top = [...mainCpuReport.groups].sort((a, b) => b.percent - a.percent);
  log(`  busiest while sustained: ${top.slice(0, 3).map((g) => `${g.label} ${fmt(g.percent)} %`).join(', ')}; machine ${fmt(mainCpuReport.machinePercent)} % of ${mainCpuReport.cores} cores`);

  await cleanup();
  console.log(
    JSON.stringify({
      bench: 'ingest',
      samples_per_s: round(samplesPerS),
      p50_ms: round(mainLatency.p50, 1),
      p99_ms: round(mainLatency.p99, 1),
      lost,
      doubled: finalCount.doubled,
      jetstream_limit_per_s: round(jsRaw.perS),
      copy_limit_per_s: round(copyRaw.perS),
    }),
  );
}

/** One more connection in the namespace's schema, closed at cleanup. */
async function extraClient(space: TestNamespace): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: space.config.database.url, application_name: 'ingest-bench activity' });
  clients.push(c);
  await c.connect();
  return c;
}

function meanBacklog(timeline: readonly MonitorPoint[], from: number, to: number): { ingest: number; samples: number } {
  const points = timeline.filter((p) => p.at >= from && p.at <= to);
  const n = Math.max(1, points.length);
  return { ingest: points.reduce((s, p) => s + p.ingest, 0) / n, samples: points.reduce((s, p) => s + p.samples, 0) / n };
}

function printTimeline(timeline: readonly MonitorPoint[], from: number, to: number): void {
  const points = timeline.filter((p) => p.at >= from && p.at <= to + 100);
  let last = points[0];
  if (!last) return;
  const cells: string[] = [];
  for (const p of points) {
    if (p.at - last.at < 5000 && p !== points[points.length - 1]) continue;
    cells.push(`${fmt((p.at - from) / 1000).padStart(3)} s: ${fmt((p.stored - last.stored) / ((p.at - last.at) / 1000)).padStart(7)}/s, ${fmt(p.ingest).padStart(5)} + ${fmt(p.samples).padStart(5)}`);
    last = p;
  }
  for (let i = 0; i < cells.length; i += 3) log(`    ${cells.slice(i, i + 3).join('   ')}`);
}

main().catch(async (err: unknown) => {
  console.error(err);
  for (const r of replicas) if (r.proc.child.exitCode !== null) console.error(`--- ${r.label} output ---\n${r.proc.output()}`);
  await cleanup().catch(() => undefined);
  process.exit(1);
});
