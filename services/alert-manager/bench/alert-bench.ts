/**
 * Measures the alert-manager on this machine, against the real NATS, PostgreSQL and Redis:
 *
 * 1. Breach-to-notification latency: processor and alert-manager run as real processes (grouping off), a
 *    webhook receiver here records when each alert arrives; one breaching sample per series is published
 *    every ~20 ms and timed from `nc.publish` to the webhook request.
 * 2. Rule-evaluation throughput, in process: `evaluateBatch` with 1,000 rules against batches of 1,000
 *    samples on a real Redis connection, in steady state (nothing breaches) and with 10 % breaching.
 *
 *   pnpm bench:alert
 *   BENCH_ALERTS=500 BENCH_EVAL_SECONDS=20 pnpm bench:alert
 *
 * Prints a readable summary, then as the last line one JSON object for scripts to pick up.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type NatsConnection } from 'nats';
import { Redis } from 'ioredis';
import { RuleSchema, type Notification, type Rule } from '@terminusa/alerting';
import type { Sample } from '@terminusa/bus';
import { createTestNamespace, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';
import { AlertStateCommands } from '../src/evaluate/alert-state-commands.ts';
import { evaluateBatch } from '../src/evaluate/evaluate-batch.ts';
import { RuleSet } from '../src/rules/rule-set.ts';

const WARMUP_ALERTS = 20;
const ALERTS = Number(process.env.BENCH_ALERTS ?? 200);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 20);
const EVAL_SECONDS = Number(process.env.BENCH_EVAL_SECONDS ?? 10);
if (!Number.isInteger(ALERTS) || ALERTS < 200) throw new Error(`BENCH_ALERTS must be an integer ≥ 200, got ${process.env.BENCH_ALERTS}`);
if (!(INTERVAL_MS > 0)) throw new Error(`BENCH_INTERVAL_MS must be positive, got ${process.env.BENCH_INTERVAL_MS}`);
if (!(EVAL_SECONDS > 0)) throw new Error(`BENCH_EVAL_SECONDS must be positive, got ${process.env.BENCH_EVAL_SECONDS}`);

const WEBHOOK_SECRET = 'alert-bench-webhook-secret-0123';
const RULE = 'Breach';
const METRIC = 'bench_breach';
const RULES_YAML = `rules:
  - { name: ${RULE}, metric: ${METRIC}, comparator: ">", threshold: 0, severity: critical, channels: [webhook] }
`;

const r1 = (n: number) => Math.round(n * 10) / 10;
const fmt = (n: number, digits = 1) => n.toFixed(digits);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The q-quantile (0..1) of ascending values, nearest rank. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

function summarize(values: readonly number[]): { p50: number; p90: number; p99: number; max: number; min: number; mean: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? NaN,
    min: sorted[0] ?? NaN,
    mean: sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length),
  };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Ends a process: SIGTERM, then SIGKILL if it is still there after 5 s. */
async function stopProcess(p: ServiceProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.kill('SIGTERM');
  const ended = await Promise.race([p.exited.then(() => true), sleep(5000).then(() => false)]);
  if (!ended) {
    console.log(`  ${p.name} did not stop within 5 s of SIGTERM; SIGKILL`);
    p.kill('SIGKILL');
    await p.exited;
  }
}

// ---------------------------------------------------------------------------------------------------------
// 1. Breach-to-notification latency
// ---------------------------------------------------------------------------------------------------------

/** One webhook arrival of one alert. */
interface Arrival {
  /** performance.now() when the request was read in full. */
  perf: number;
  /** Date.now() at the same moment. */
  wall: number;
  /** When the alert-manager evaluated the breach (the alert's firedAt). */
  firedAt: number;
  /** When the alert-manager signed the request, right before sending it (x-tmon-timestamp). */
  sentAt: number;
  /** The notification id (= BullMQ job id `deliver-<id>-webhook`). */
  notification: string;
}

/** The HTTP receiver the webhook channel points at; keeps every arrival per alert label `n`. */
async function startReceiver(): Promise<{ server: Server; url: string; arrivals: Map<string, Arrival[]>; badRequests: () => number }> {
  const arrivals = new Map<string, Arrival[]>();
  let bad = 0;
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const perf = performance.now();
      const wall = Date.now();
      try {
        const { notification } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { notification: Notification };
        const sentAt = Number(req.headers['x-tmon-timestamp']);
        for (const alert of notification.alerts) {
          const n = alert.labels.n;
          if (alert.rule !== RULE || n === undefined || notification.status !== 'firing') continue;
          const list = arrivals.get(n) ?? [];
          list.push({ perf, wall, firedAt: alert.firedAt ?? NaN, sentAt, notification: notification.id });
          arrivals.set(n, list);
        }
        res.writeHead(200).end('ok');
      } catch {
        bad++;
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${port}/webhook`, arrivals, badRequests: () => bad };
}

/** Publishes one breaching sample of series `n` the way a game service does. */
function publishBreach(nc: NatsConnection, ns: TestNamespace, n: string): void {
  nc.publish(`${ns.id}.metrics.ingest.bench`, new TextEncoder().encode(JSON.stringify({ samples: [{ name: METRIC, value: 1, tags: { n } }] })));
}

/** Publishes `labels` one every INTERVAL_MS (on a fixed schedule, so a slow tick does not shift the rest); returns publish times. */
async function publishPaced(nc: NatsConnection, ns: TestNamespace, labels: readonly string[]): Promise<Map<string, { perf: number; wall: number }>> {
  const sent = new Map<string, { perf: number; wall: number }>();
  const t0 = performance.now();
  for (let i = 0; i < labels.length; i++) {
    const due = t0 + i * INTERVAL_MS;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const n = labels[i]!;
    sent.set(n, { perf: performance.now(), wall: Date.now() });
    publishBreach(nc, ns, n);
  }
  await nc.flush();
  return sent;
}

interface LatencyResult {
  sent: number;
  received: number;
  duplicates: number;
  missing: string[];
  latency: ReturnType<typeof summarize>;
  stages: { name: string; stats: ReturnType<typeof summarize> }[];
  evalBatchMs: number | undefined;
  publishSpanMs: number;
}

/** Reads the alert-manager's `tmon_alert_evaluation_seconds` sum and count from its /metrics. */
async function evaluationHistogram(opsPort: number): Promise<{ sum: number; count: number } | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    const sum = /^tmon_alert_evaluation_seconds_sum(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text)?.[1];
    const count = /^tmon_alert_evaluation_seconds_count(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text)?.[1];
    return sum !== undefined && count !== undefined ? { sum: Number(sum), count: Number(count) } : undefined;
  } catch {
    return undefined;
  }
}

async function latencyBench(ns: TestNamespace, procs: ServiceProcess[]): Promise<LatencyResult> {
  const receiver = await startReceiver();
  let nc: NatsConnection | undefined;
  let redis: Redis | undefined;
  try {
    const rulesFile = join(ns.env.DATA_DIR!, 'alert-rules.yaml');
    await writeFile(rulesFile, RULES_YAML);
    const opsPorts: Record<string, number> = { processor: await freePort(), 'alert-manager': await freePort() };
    const env = (name: string): Record<string, string> => ({
      ...ns.env,
      LOG_LEVEL: 'warn',
      OPS_PORT: String(opsPorts[name]),
      ALERT_RULES_FILE: rulesFile,
      TMON_ALERTS__GROUP_WAIT: '0',
      TMON_ALERTS__CHANNELS__WEBHOOK: JSON.stringify({ url: receiver.url, secret: WEBHOOK_SECRET }),
    });
    const started = performance.now();
    for (const name of ['processor', 'alert-manager']) procs.push(startServiceProcess(name, env(name)));
    for (const p of procs) {
      await waitFor(
        async () => {
          if (p.child.exitCode !== null) throw new Error(`${p.name} exited with ${p.child.exitCode}:\n${p.output()}`);
          const res = await fetch(`http://127.0.0.1:${opsPorts[p.name]}/health/ready`);
          return res.status === 200 ? true : undefined;
        },
        90_000,
        `${p.name} ready`,
        200,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n--- ${p.name} output ---\n${p.output()}`);
      });
    }
    console.log(`  processor and alert-manager ready after ${fmt((performance.now() - started) / 1000)} s`);

    nc = await connect({ servers: ns.config.nats.url });

    // Warm-up: JIT, connection pools, script cache, BullMQ worker, HTTP keep-alive.
    const warm = Array.from({ length: WARMUP_ALERTS }, (_, i) => `w${i}`);
    await publishPaced(nc, ns, warm);
    await waitFor(() => (warm.every((n) => receiver.arrivals.has(n)) ? true : undefined), 30_000, `${WARMUP_ALERTS} warm-up alerts`, 20).catch((err: unknown) => {
      throw new Error(`${String(err)} (got ${warm.filter((n) => receiver.arrivals.has(n)).length})\n--- alert-manager output ---\n${procs[1]!.output()}`);
    });
    console.log(`  warm-up: ${WARMUP_ALERTS} alerts notified`);
    await sleep(500);
    const histBefore = await evaluationHistogram(opsPorts['alert-manager']!);

    // Measured run.
    const labels = Array.from({ length: ALERTS }, (_, i) => String(i));
    const pubStart = performance.now();
    const sent = await publishPaced(nc, ns, labels);
    const publishSpanMs = performance.now() - pubStart;
    console.log(`  published ${ALERTS} breaching samples (distinct series) over ${fmt(publishSpanMs / 1000, 2)} s`);
    await waitFor(() => (labels.every((n) => receiver.arrivals.has(n)) ? true : undefined), 30_000, 'every alert notified', 20).catch(() => undefined);
    // Give duplicates (redeliveries, replays) a chance to show.
    await sleep(2000);
    const histAfter = await evaluationHistogram(opsPorts['alert-manager']!);

    const latencies: number[] = [];
    const toEval: number[] = [];
    const evalToEnqueue: number[] = [];
    const enqueueToWorker: number[] = [];
    const workerToSend: number[] = [];
    const sendToArrival: number[] = [];
    const evalToSend: number[] = [];
    let duplicates = 0;
    const missing: string[] = [];
    redis = new Redis(ns.config.redis.url);
    const bull = `${ns.config.redis.prefix}bull:alert-notifications:`;
    for (const n of labels) {
      const got = receiver.arrivals.get(n);
      if (!got?.length) {
        missing.push(n);
        continue;
      }
      duplicates += got.length - 1;
      const a = got[0]!;
      const s = sent.get(n)!;
      latencies.push(a.perf - s.perf);
      toEval.push(a.firedAt - s.wall);
      evalToSend.push(a.sentAt - a.firedAt);
      sendToArrival.push(a.wall - a.sentAt);
      // BullMQ keeps completed jobs a day: when the delivery was enqueued and when a worker took it.
      const [added, processedOn] = await redis.hmget(`${bull}deliver-${a.notification}-webhook`, 'timestamp', 'processedOn');
      if (added && processedOn) {
        evalToEnqueue.push(Number(added) - a.firedAt);
        enqueueToWorker.push(Number(processedOn) - Number(added));
        workerToSend.push(a.sentAt - Number(processedOn));
      }
    }
    const stages = [
      { name: 'publish → evaluation (NATS, processor, SAMPLES stream, consumer linger)', values: toEval },
      { name: 'evaluation → delivery job added (Lua, outbox relay, history, silence/inhibit)', values: evalToEnqueue },
      { name: 'job added → worker took it (BullMQ)', values: enqueueToWorker },
      { name: 'worker took it → webhook request signed', values: workerToSend },
      { name: 'evaluation → webhook request signed (all of the above)', values: evalToSend },
      { name: 'webhook request → arrival (HTTP)', values: sendToArrival },
    ]
      .filter((s) => s.values.length > 0)
      .map((s) => ({ name: s.name, stats: summarize(s.values) }));
    const evalBatchMs = histBefore && histAfter && histAfter.count > histBefore.count ? ((histAfter.sum - histBefore.sum) / (histAfter.count - histBefore.count)) * 1000 : undefined;
    if (receiver.badRequests() > 0) console.log(`  ${receiver.badRequests()} webhook requests could not be parsed`);
    return { sent: ALERTS, received: latencies.length, duplicates, missing, latency: summarize(latencies), stages, evalBatchMs, publishSpanMs };
  } finally {
    for (const p of procs) await stopProcess(p);
    await nc?.close().catch(() => undefined);
    redis?.disconnect();
    await new Promise((r) => receiver.server.close(r));
    receiver.server.closeAllConnections();
  }
}

// ---------------------------------------------------------------------------------------------------------
// 2. Evaluation throughput (in process)
// ---------------------------------------------------------------------------------------------------------

const METRICS = 100;
const VARIATIONS = 10;
const SERIES = 10;

/** 1,000 rules: 100 metrics × 10 thresholds; half match region=eu only, half eu or us (a regex). */
function benchRules(): RuleSet {
  const rules: Rule[] = [];
  for (let m = 0; m < METRICS; m++) {
    for (let v = 0; v < VARIATIONS; v++) {
      rules.push(
        RuleSchema.parse({
          name: `Bench_m${m}_v${v}`,
          metric: `bench_metric_${m}`,
          comparator: '>',
          threshold: 1000 + v * 100,
          severity: (['critical', 'warning', 'info'] as const)[v % 3],
          matchers: v < VARIATIONS / 2 ? [{ tag: 'region', value: 'eu' }] : [{ tag: 'region', op: '=~', value: 'eu|us' }],
          summary: 'Bench {{alertname}} on {{series}}',
        }),
      );
    }
  }
  return new RuleSet(rules);
}

/** One batch: 100 metrics × 10 series; series 0–4 are region eu (10 rules each), 5–9 region us (5 rules each). */
function benchBatch(ts: number, breachingSeries: number | undefined): Sample[] {
  const samples: Sample[] = [];
  for (let m = 0; m < METRICS; m++) {
    for (let s = 0; s < SERIES; s++) {
      const breach = s === breachingSeries;
      samples.push({
        name: `bench_metric_${m}`,
        value: breach ? 5000 + Math.random() * 100 : Math.random() * 100,
        ts,
        tags: { region: s < SERIES / 2 ? 'eu' : 'us', series: `s${s}` },
      });
    }
  }
  return samples;
}

interface ThroughputResult {
  label: string;
  batches: number;
  samples: number;
  evaluations: number;
  seconds: number;
  samplesPerS: number;
  evaluationsPerS: number;
  batchMs: ReturnType<typeof summarize>;
}

/**
 * Calls evaluateBatch back to back for EVAL_SECONDS of measured time. With `breach`, one series in ten of
 * every metric breaches, a different one each batch, so every batch fires 10 % and resolves the previous 10 %.
 */
async function throughputRun(label: string, state: AlertStateCommands, rules: RuleSet, levels: TestNamespace['config']['alerts']['levels'], breach: boolean): Promise<ThroughputResult> {
  let ts = Date.now();
  const nextTs = () => (ts = Math.max(ts + 1, Date.now()));
  // Warm-up: creates every state hash, loads the script, warms the JIT.
  for (let i = 0; i < 3; i++) await evaluateBatch(benchBatch(nextTs(), breach ? i % SERIES : undefined), rules, state, levels, ts);
  await state.redis.del(state.keys.outbox);

  let batches = 0;
  let samples = 0;
  let evaluations = 0;
  let measuredMs = 0;
  const batchMs: number[] = [];
  while (measuredMs < EVAL_SECONDS * 1000) {
    const batch = benchBatch(nextTs(), breach ? (batches + 3) % SERIES : undefined);
    const t0 = performance.now();
    evaluations += await evaluateBatch(batch, rules, state, levels, ts);
    const ms = performance.now() - t0;
    measuredMs += ms;
    batchMs.push(ms);
    batches++;
    samples += batch.length;
    // No relay runs here: keep the outbox from growing without bound (outside the measured time).
    if (breach) await state.redis.del(state.keys.outbox);
  }
  const seconds = measuredMs / 1000;
  const result = { label, batches, samples, evaluations, seconds, samplesPerS: samples / seconds, evaluationsPerS: evaluations / seconds, batchMs: summarize(batchMs) };
  console.log(
    `  ${label}: ${batches} batches, ${samples.toLocaleString('en')} samples, ${evaluations.toLocaleString('en')} evaluations in ${fmt(seconds, 2)} s → ` +
      `${Math.round(result.samplesPerS).toLocaleString('en')} samples/s, ${Math.round(result.evaluationsPerS).toLocaleString('en')} evaluations/s ` +
      `(batch p50 ${fmt(result.batchMs.p50)} ms, p99 ${fmt(result.batchMs.p99)} ms)`,
  );
  return result;
}

async function throughputBench(ns: TestNamespace): Promise<{ steady: ThroughputResult; breaching: ThroughputResult }> {
  const redis = new Redis(ns.config.redis.url, { maxRetriesPerRequest: null });
  try {
    const rules = benchRules();
    const levels = ns.config.alerts.levels;
    // Two fresh prefixes inside the namespace (removed by its cleanup), so the runs do not see each other's state.
    const steady = await throughputRun('steady state (0 % breach)', new AlertStateCommands(redis, `${ns.config.redis.prefix}eval-steady:`), rules, levels, false);
    const breaching = await throughputRun('10 % breaching (fire + resolve each batch)', new AlertStateCommands(redis, `${ns.config.redis.prefix}eval-breach:`), rules, levels, true);
    return { steady, breaching };
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let ns: TestNamespace | undefined;
  const procs: ServiceProcess[] = [];
  try {
    ns = await createTestNamespace();
    console.log(`alert bench, namespace ${ns.id}`);

    console.log(`\n1. breach-to-notification latency (${ALERTS} alerts, one every ${INTERVAL_MS} ms, group_wait 0, webhook)`);
    const lat = await latencyBench(ns, procs);

    console.log(`\n2. rule-evaluation throughput (evaluateBatch, ${METRICS * VARIATIONS} rules, batches of ${METRICS * SERIES} samples, ${EVAL_SECONDS} s each)`);
    const { steady, breaching } = await throughputBench(ns);

    const l = lat.latency;
    console.log('\nsummary');
    console.log(`  latency (publish → webhook arrival), ms: p50 ${fmt(l.p50)}  p90 ${fmt(l.p90)}  p99 ${fmt(l.p99)}  max ${fmt(l.max)}  (min ${fmt(l.min)}, mean ${fmt(l.mean)})`);
    console.log(`  alerts: sent ${lat.sent}, received ${lat.received}, duplicates ${lat.duplicates}${lat.missing.length ? `, MISSING ${lat.missing.length}: ${lat.missing.slice(0, 20).join(', ')}` : ''}`);
    console.log('  where the time goes (ms; wall clocks of this machine):');
    console.log(`    ${'stage'.padEnd(80)} ${'p50'.padStart(7)} ${'p90'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}`);
    for (const s of lat.stages) console.log(`    ${s.name.padEnd(80)} ${fmt(s.stats.p50).padStart(7)} ${fmt(s.stats.p90).padStart(7)} ${fmt(s.stats.p99).padStart(7)} ${fmt(s.stats.max).padStart(7)}`);
    if (lat.evalBatchMs !== undefined) console.log(`    alert-manager evaluateBatch per consumed batch (its own histogram): mean ${fmt(lat.evalBatchMs, 2)} ms`);
    console.log(`  evaluation, steady state: ${Math.round(steady.samplesPerS).toLocaleString('en')} samples/s, ${Math.round(steady.evaluationsPerS).toLocaleString('en')} rule evaluations/s`);
    console.log(`  evaluation, 10 % breach:  ${Math.round(breaching.samplesPerS).toLocaleString('en')} samples/s, ${Math.round(breaching.evaluationsPerS).toLocaleString('en')} rule evaluations/s`);

    if (lat.received !== lat.sent || lat.duplicates !== 0) process.exitCode = 1;
    console.log(
      JSON.stringify({
        bench: 'alert',
        p50_ms: r1(l.p50),
        p99_ms: r1(l.p99),
        alerts: lat.received,
        evaluations_per_s: r1(steady.evaluationsPerS),
        samples_per_s: r1(steady.samplesPerS),
      }),
    );
  } finally {
    for (const p of procs) await stopProcess(p).catch(() => undefined);
    await ns?.cleanup();
  }
}

await main();
