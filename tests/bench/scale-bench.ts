/**
 * Ingestion throughput with 1, 2 and 3 processor + storage replica pairs on this machine, side by side, against
 * the raw limits of JetStream publish and the engine's import measured in the same run, in a fresh namespace on the
 * real NATS, PostgreSQL, Redis and VictoriaMetrics:
 *
 * 1. Raw limits (BENCH_RAW_SECONDS each, before any service runs): JetStream publish alone of the same
 *    100-sample messages, the engine's import alone of the same samples into a fresh engine (`raw-limits.ts`).
 * 2. For each count of pairs (BENCH_PAIRS, default `1,2,3`): start that many processors and storages, warm up
 *    (every series exists, JITs warm), then publish for BENCH_SECONDS as fast as the pipeline keeps up (paused
 *    while its backlog is at BENCH_MAX_PENDING messages), wait for the drain, count what the engine holds (lost,
 *    doubled) and stop the replicas. Throughput = samples stored / (last sample stored − first publish). CPU of
 *    each kind of process and of the whole machine is sampled meanwhile, to show where the time goes.
 *
 *   pnpm bench:scale
 *   BENCH_SECONDS=30 BENCH_PAIRS=1,2,3,4 pnpm bench:scale
 *
 * Prints a readable summary, then as the last line one JSON object:
 * `{"bench":"scale","samples_per_s":[r1,r2,r3],...}`.
 */
import { connect, type NatsConnection } from 'nats';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { CpuSampler, createTestNamespace, ENGINE_COMM, envNumber, fmt, pidsByComm, roundTo, stopProcess, type CpuGroup, type CpuReport, type TestNamespace } from '@terminusa/testkit';
import { GROUPS, MessageFactory, SAMPLES_PER_MESSAGE, SERIES, publishPhase } from './ingest-load.ts';
import { PipelineMonitor, countStored, startIngestReplicas, type Replica } from './ingest-pipeline.ts';
import { engineLimit, jetstreamLimit } from './raw-limits.ts';

const SECONDS = envNumber('BENCH_SECONDS', 20);
const RAW_SECONDS = envNumber('BENCH_RAW_SECONDS', 8);
const WINDOW = envNumber('BENCH_WINDOW', 256);
/** Pipeline backlog (messages) at which publishing pauses; the suite's own in-flight limit per consumer. */
const MAX_PENDING = envNumber('BENCH_MAX_PENDING', 1000);
const DRAIN_TIMEOUT_MS = envNumber('BENCH_DRAIN_TIMEOUT_S', 120) * 1000;
const PAIRS = (process.env.BENCH_PAIRS ?? '1,2,3').split(',').map(Number);
if (PAIRS.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_PAIRS must list positive integers, got ${process.env.BENCH_PAIRS}`);

const log = (line = '') => console.log(line);

/** What one count of pairs achieved. */
interface Round {
  pairs: number;
  samplesPerS: number;
  stored: number;
  seconds: number;
  /** Share of the publishing time spent paused because the backlog was full (the pipeline was the limit). */
  gatedShare: number;
  cpu: CpuReport;
}

let ns: TestNamespace | undefined;
let nc: NatsConnection | undefined;
const replicas: Replica[] = [];
let db: VictoriaMetrics | undefined;
let cleaned: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    await Promise.allSettled(replicas.map((r) => stopProcess(r.proc)));
    await nc?.close().catch(() => undefined);
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

/** CPU groups: every replica of a service summed, and the servers. */
function cpuGroups(running: readonly Replica[]): CpuGroup[] {
  const natsPids = pidsByComm('nats-server');
  const redisPids = pidsByComm('redis-server');
  const of = (name: string) => () => running.filter((r) => r.proc.name === name).map((r) => r.proc.child.pid!);
  return [
    { label: 'processors', pids: of('processor') },
    { label: 'storages', pids: of('storage') },
    // The engine's command name, cut to the kernel's 15 characters.
    { label: 'victoria-metrics', pids: () => pidsByComm(ENGINE_COMM) },
    { label: 'postgres', pids: () => pidsByComm('postgres') },
    { label: 'nats-server', pids: () => natsPids },
    { label: 'redis-server', pids: () => redisPids },
    { label: 'bench', pids: () => [process.pid] },
  ];
}

const percentOf = (report: CpuReport, label: string) => report.groups.find((g) => g.label === label)?.percent ?? NaN;

async function main(): Promise<void> {
  log(`scale bench: ${fmt(SERIES)} series, ${SAMPLES_PER_MESSAGE} samples per message, ${WINDOW} publishes in flight, ${SECONDS} s per round ` +
    `(backlog ≤ ${MAX_PENDING} messages), ${PAIRS.join(' / ')} processor + storage pairs`);
  ns = await createTestNamespace();
  nc = await connect({ servers: ns.config.nats.url, name: 'scale-bench' });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();

  log(`\n1. Raw limits (${RAW_SECONDS} s each)`);
  const jsRaw = await jetstreamLimit(js, jsm, ns.id, RAW_SECONDS, WINDOW);
  await jsm.streams.delete(jsRaw.stream).catch(() => undefined);
  log(`  JetStream publish alone: ${fmt(jsRaw.perS)} samples/s`);
  const engineRaw = await engineLimit(RAW_SECONDS);
  log(`  VictoriaMetrics import alone: ${fmt(engineRaw.perS)} samples/s (a fresh engine; JSON lines of 10,000 series × 10 samples, each request made durable by a snapshot, 4 in flight)`);

  // The load's samples are counted in the engine, in the namespace (its tmon_ns label).
  db = new VictoriaMetrics({ ...ns.config.storage.engine, timeoutMs: 120_000 });
  const subject = `${ns.id}.metrics.ingest.bench`;
  // One factory for the whole run: timestamps keep rising per series, so every stored row is one published sample.
  const factory = new MessageFactory();
  const idPrefix = `${ns.id}-scale`;
  let published = 0;
  const rounds: Round[] = [];

  log(`\n2. End to end, by processor + storage pairs`);
  for (const pairs of PAIRS) {
    const started = await startIngestReplicas(ns, pairs, replicas);
    const monitor = new PipelineMonitor(jsm, ns, started.filter((r) => r.proc.name === 'storage'));
    const gate = () => monitor.backlog < MAX_PENDING;
    const warm = await publishPhase({ js, subject, factory, idPrefix, window: WINDOW, durationMs: 60_000, maxMessages: 2 * GROUPS, gate, onPublish: () => monitor.published() });
    published += warm.acked;
    if (!(await monitor.drained(DRAIN_TIMEOUT_MS)).drained) throw new Error(`the warm-up with ${pairs} pair(s) did not drain`);
    const before = await countStored(db);
    const cpu = new CpuSampler(cpuGroups(started));
    const run = await publishPhase({ js, subject, factory, idPrefix, window: WINDOW, durationMs: SECONDS * 1000, gate, onPublish: () => monitor.published() });
    const cpuReport = cpu.stop();
    published += run.acked;
    const drain = await monitor.drained(DRAIN_TIMEOUT_MS);
    await monitor.stop();
    const after = await countStored(db);
    const lastStoredAt = monitor.reachedAt(drain.point.stored, run.firstAt);
    const seconds = (lastStoredAt - run.firstAt) / 1000;
    const stored = after.rows - before.rows;
    const round_: Round = { pairs, samplesPerS: stored / seconds, stored, seconds, gatedShare: run.gatedMs / (run.stoppedAt - run.firstAt), cpu: cpuReport };
    rounds.push(round_);
    log(`  ${pairs} pair(s): ${fmt(round_.samplesPerS)} samples/s (${fmt(stored)} samples in ${fmt(seconds, 1)} s${drain.drained ? '' : ', NOT drained'}); ` +
      `machine CPU ${fmt(cpuReport.machinePercent)} % of ${cpuReport.cores} cores; lost so far ${fmt(Math.max(0, published * SAMPLES_PER_MESSAGE - after.pairs))}, doubled ${fmt(after.doubled)}`);
    await Promise.all(started.map((r) => stopProcess(r.proc)));
    replicas.splice(0, replicas.length);
  }
  const final = await countStored(db);
  const lost = Math.max(0, published * SAMPLES_PER_MESSAGE - final.pairs);

  const base = rounds[0]!.samplesPerS;
  log(`\nSummary (CPU in % of one core while publishing; ${rounds[0]!.cpu.cores} cores = ${rounds[0]!.cpu.cores * 100} %)`);
  const header = ['pairs', 'samples/s', 'vs 1 pair', 'per pair', 'paused', 'machine', 'processors', 'storages', 'engine', 'postgres', 'nats', 'redis', 'bench'];
  log(`  ${header.map((h, i) => (i === 0 ? h.padEnd(6) : h.padStart(11))).join('')}`);
  for (const r of rounds) {
    const cells = [
      fmt(r.samplesPerS),
      `${fmt(r.samplesPerS / base, 2)}x`,
      fmt(r.samplesPerS / r.pairs),
      `${fmt(100 * r.gatedShare)} %`,
      `${fmt(r.cpu.machinePercent)} %`,
      ...['processors', 'storages', 'victoria-metrics', 'postgres', 'nats-server', 'redis-server', 'bench'].map((l) => `${fmt(percentOf(r.cpu, l))} %`),
    ];
    log(`  ${String(r.pairs).padEnd(6)}${cells.map((c) => c.padStart(11)).join('')}`);
  }
  log(`  JetStream publish alone ${fmt(jsRaw.perS)} samples/s; VictoriaMetrics import alone ${fmt(engineRaw.perS)} samples/s`);
  log(`  lost ${lost}, doubled ${final.doubled} over the whole run (${fmt(published * SAMPLES_PER_MESSAGE)} samples published)`);
  const others = rounds.flatMap((r) => r.cpu.others).filter((o) => o.percent >= 10);
  if (others.length) log(`  other busy processes on the machine: ${others.slice(0, 5).map((o) => `${o.name} ${fmt(o.percent)} %`).join('; ')}`);

  await cleanup();
  console.log(
    JSON.stringify({
      bench: 'scale',
      samples_per_s: rounds.map((r) => roundTo(r.samplesPerS)),
      pairs: rounds.map((r) => r.pairs),
      speedup: rounds.map((r) => roundTo(r.samplesPerS / base, 2)),
      machine_cpu_percent: rounds.map((r) => roundTo(r.cpu.machinePercent)),
      cores: rounds[0]!.cpu.cores,
      jetstream_limit_per_s: roundTo(jsRaw.perS),
      engine_limit_per_s: roundTo(engineRaw.perS),
      lost,
      doubled: final.doubled,
    }),
  );
}

main().catch(async (err: unknown) => {
  console.error(err);
  for (const r of replicas) if (r.proc.child.exitCode !== null) console.error(`--- ${r.label} output ---\n${r.proc.output()}`);
  await cleanup().catch(() => undefined);
  process.exit(1);
});
