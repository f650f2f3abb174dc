/**
 * Measures the alert-manager on this machine, against the real NATS, PostgreSQL, Redis and VictoriaMetrics, with
 * the shipped settings:
 *
 * 1. Ingest capacity: processor, storage and alert-manager run as real processes (one replica each, shipped
 *    defaults); 100-sample messages over 10,000 series are published to JetStream as fast as the pipeline stores
 *    them for BENCH_CAPACITY_SECONDS (the ingest bench's load), and the stored rate is the capacity. Half of it is
 *    the background load of step 2.
 * 2. Breach-to-notification latency: a webhook receiver here records when each alert arrives; one breaching sample
 *    of a new series is published every BENCH_INTERVAL_MS and timed from `nc.publish` to the webhook request.
 *    Four runs of BENCH_ALERTS alerts: with the shipped `alerts.groupWait` (alerts gathered for that long into
 *    one notification per alertname) and with `groupWait: 0` (each alert sent at once), each with the pipeline
 *    otherwise idle and with concurrent ingest at half the capacity measured in step 1. The alert-manager is
 *    restarted between the two settings; nothing else is changed.
 * 3. Rule-evaluation throughput of the alert-manager process with the shipped settings, fed through NATS with the
 *    processor in front (and the storage taking the same samples): it is restarted on a rules file of 1,000 rules
 *    (100 metrics × 10 thresholds), and batches of 1,000 samples (100 metrics × 10 series) go to the processor's
 *    ingest subject through JetStream as fast as it evaluates them, for BENCH_EVAL_SECONDS, in steady state (nothing
 *    breaches) and with 10 % breaching. Samples/s count from the first publish until it has evaluated the last;
 *    rule evaluations/s and its time per batch come from its own metrics.
 *
 *   pnpm bench:alert
 *   BENCH_ALERTS=500 BENCH_EVAL_SECONDS=20 BENCH_CAPACITY_SECONDS=20 pnpm bench:alert
 *
 * TMON_* settings in the environment go to the services (and then the figures are not the shipped settings').
 * Prints a readable summary, then as the last line one JSON object for scripts to pick up.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import type { Redis } from 'ioredis';
import { parseRulesFile, type Notification } from '@terminusa/alerting';
import { CpuSampler, createTestNamespace, pidsByComm, stopProcess, summarize, waitFor, type Summary, type TestNamespace } from '@terminusa/testkit';
import { GROUPS, MessageFactory, SAMPLES_PER_MESSAGE, publishPhase, type PublishResult } from './ingest-load.ts';
import { PipelineMonitor, startReplicas, type Replica } from './ingest-pipeline.ts';

const WARMUP_ALERTS = 20;
const ALERTS = Number(process.env.BENCH_ALERTS ?? 200);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL_MS ?? 20);
const EVAL_SECONDS = Number(process.env.BENCH_EVAL_SECONDS ?? 10);
const CAPACITY_SECONDS = Number(process.env.BENCH_CAPACITY_SECONDS ?? 15);
if (!Number.isInteger(ALERTS) || ALERTS < 200) throw new Error(`BENCH_ALERTS must be an integer ≥ 200, got ${process.env.BENCH_ALERTS}`);
if (!(INTERVAL_MS > 0)) throw new Error(`BENCH_INTERVAL_MS must be positive, got ${process.env.BENCH_INTERVAL_MS}`);
if (!(EVAL_SECONDS > 0)) throw new Error(`BENCH_EVAL_SECONDS must be positive, got ${process.env.BENCH_EVAL_SECONDS}`);
if (!(CAPACITY_SECONDS > 0)) throw new Error(`BENCH_CAPACITY_SECONDS must be positive, got ${process.env.BENCH_CAPACITY_SECONDS}`);
/** Publishes awaiting their JetStream ack, at most, and the backlog at which the capacity load pauses (the ingest bench's). */
const WINDOW = 256;
const MAX_PENDING = 2000;
/** How long the background load runs before the alerts are published, so they meet it in its steady state. */
const LOAD_LEAD_MS = 3000;
const DRAIN_TIMEOUT_MS = 60_000;

const WEBHOOK_SECRET = 'alert-bench-webhook-secret-0123';
const RULE = 'Breach';
const METRIC = 'bench_breach';
const RULES_YAML = `rules:
  - { name: ${RULE}, metric: ${METRIC}, comparator: ">", threshold: 0, severity: critical, channels: [webhook] }
`;

const r1 = (n: number) => Math.round(n * 10) / 10;
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const thousands = (n: number) => Math.round(n).toLocaleString('en');

// ---------------------------------------------------------------------------------------------------------
// The alert-manager under test and its webhook receiver
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

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** Starts an alert-manager with a rules file and the bench's webhook; `groupWait` undefined keeps the shipped setting. */
async function startAlertManager(ns: TestNamespace, into: Replica[], receiver: Receiver, rulesFile: string, groupWait: number | undefined): Promise<Replica> {
  const env: Record<string, string> = {
    ALERT_RULES_FILE: rulesFile,
    TMON_ALERTS__CHANNELS__WEBHOOK: JSON.stringify({ url: receiver.url, secret: WEBHOOK_SECRET }),
    ...(groupWait === undefined ? {} : { TMON_ALERTS__GROUP_WAIT: String(groupWait) }),
  };
  const [replica] = await startReplicas(ns, ['alert-manager'], 1, into, env);
  return replica!;
}

/**
 * Reads the alert-manager's `tmon_alert_evaluation_seconds` sum and count (seconds and batches evaluated) and its
 * `tmon_alert_evaluations_total` (rule evaluations) from its /metrics.
 */
async function evaluationHistogram(opsPort: number): Promise<{ sum: number; count: number; evaluations: number } | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    const sum = /^tmon_alert_evaluation_seconds_sum(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text)?.[1];
    const count = /^tmon_alert_evaluation_seconds_count(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text)?.[1];
    const evaluations = /^tmon_alert_evaluations_total(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text)?.[1];
    return sum !== undefined && count !== undefined && evaluations !== undefined ? { sum: Number(sum), count: Number(count), evaluations: Number(evaluations) } : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// 1. Ingest capacity, and the background load
// ---------------------------------------------------------------------------------------------------------

/** What the bench publishes its ingest load with. */
interface Ingest {
  js: JetStreamClient;
  jsm: JetStreamManager;
  ns: TestNamespace;
  subject: string;
  factory: MessageFactory;
  idPrefix: string;
  monitor: PipelineMonitor;
}

/** SAMPLES messages the alert-manager has not acked yet. */
async function alertManagerBacklog(ingest: Ingest): Promise<number> {
  const info = await ingest.jsm.consumers.info(`${ingest.ns.id}_SAMPLES`, 'alert-manager');
  return info.num_pending + info.num_ack_pending;
}

/**
 * Waits until the processor and the alert-manager have nothing left of the load (the alert path starts idle), then
 * for the storage. A backlog that does not drain within DRAIN_TIMEOUT_MS is reported and the bench goes on: the
 * next run's figures then show what that costs.
 */
async function settle(ingest: Ingest): Promise<void> {
  let last = { ingest: NaN, alertManager: NaN };
  await waitFor(
    async () => {
      last = { ingest: (await ingest.monitor.read()).ingest, alertManager: await alertManagerBacklog(ingest) };
      return last.ingest === 0 && last.alertManager === 0 ? true : undefined;
    },
    DRAIN_TIMEOUT_MS,
    "the processor's INGEST and the alert-manager's SAMPLES backlogs to drain",
    200,
  ).catch(() => console.log(`  WARNING: not drained within ${DRAIN_TIMEOUT_MS / 1000} s: ${last.ingest} INGEST messages left to the processor, ${last.alertManager} SAMPLES messages to the alert-manager`));
  const { drained, point } = await ingest.monitor.drained(DRAIN_TIMEOUT_MS);
  if (!drained) {
    const info = await ingest.jsm.consumers.info(`${ingest.ns.id}_SAMPLES`, 'storage');
    const earlier = ingest.monitor.storedAt(performance.now() - DRAIN_TIMEOUT_MS / 2);
    console.log(
      `  WARNING: the storage did not drain within ${DRAIN_TIMEOUT_MS / 1000} s: ${point.samples} SAMPLES messages left, ${point.stored} samples stored ` +
        `(${earlier} ${DRAIN_TIMEOUT_MS / 2000} s before); its consumer: ${info.num_pending} pending, ${info.num_ack_pending} in hand, ${info.num_waiting} pulls waiting`,
    );
  }
}

/** Samples per second the running pipeline stores when fed as fast as it takes, over CAPACITY_SECONDS. */
async function measureCapacity(ingest: Ingest): Promise<{ perS: number; stored: number; seconds: number }> {
  const { monitor } = ingest;
  const gate = () => monitor.backlog < MAX_PENDING;
  // Warm-up: every series exists, JITs warm.
  await publishPhase({ ...ingest, window: WINDOW, durationMs: 60_000, maxMessages: 2 * GROUPS, gate, onPublish: () => monitor.published() });
  if (!(await monitor.drained(DRAIN_TIMEOUT_MS)).drained) throw new Error('the capacity warm-up did not drain');
  const before = monitor.latest.stored;
  const run = await publishPhase({ ...ingest, window: WINDOW, durationMs: CAPACITY_SECONDS * 1000, gate, onPublish: () => monitor.published() });
  const drain = await monitor.drained(DRAIN_TIMEOUT_MS);
  if (!drain.drained) throw new Error('the capacity run did not drain');
  const seconds = (monitor.reachedAt(drain.point.stored, run.firstAt) - run.firstAt) / 1000;
  const stored = drain.point.stored - before;
  await settle(ingest);
  return { perS: stored / seconds, stored, seconds };
}

/** Publishes `samplesPerS` in the background until stopped; `stop` resolves with what was published. */
function backgroundLoad(ingest: Ingest, samplesPerS: number): { stop: () => Promise<PublishResult> } {
  const abort = new AbortController();
  const running = publishPhase({
    ...ingest,
    window: WINDOW,
    durationMs: 3_600_000,
    ratePerS: samplesPerS / SAMPLES_PER_MESSAGE,
    signal: abort.signal,
    onPublish: () => ingest.monitor.published(),
  });
  return {
    stop: () => {
      abort.abort();
      return running;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// 2. Breach-to-notification latency
// ---------------------------------------------------------------------------------------------------------

/** Publishes one breaching sample of series `n` the way a game service does. */
function publishBreach(nc: NatsConnection, subject: string, n: string): void {
  nc.publish(subject, new TextEncoder().encode(JSON.stringify({ samples: [{ name: METRIC, value: 1, tags: { n } }] })));
}

/** Publishes `labels` one every INTERVAL_MS (on a fixed schedule, so a slow tick does not shift the rest); returns publish times. */
async function publishPaced(nc: NatsConnection, subject: string, labels: readonly string[]): Promise<Map<string, { perf: number; wall: number }>> {
  const sent = new Map<string, { perf: number; wall: number }>();
  const t0 = performance.now();
  for (let i = 0; i < labels.length; i++) {
    const due = t0 + i * INTERVAL_MS;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const n = labels[i]!;
    sent.set(n, { perf: performance.now(), wall: Date.now() });
    publishBreach(nc, subject, n);
  }
  await nc.flush();
  return sent;
}

/** One latency run's settings and figures. */
interface LatencyResult {
  label: string;
  groupWaitS: number;
  /** Samples per second of background ingest offered during the run (0: none), and as published. */
  loadPerS: number;
  loadPublishedPerS: number;
  /** Machine CPU in % of all cores while the alerts were published and notified. */
  machineCpu: number;
  /** SAMPLES messages the alert-manager had not acked when the last alert was published. */
  alertManagerBacklog: number;
  sent: number;
  received: number;
  duplicates: number;
  missing: string[];
  latency: Summary;
  stages: { name: string; stats: Summary }[];
  evalBatchMs: number | undefined;
}

/** Everything a latency run needs. */
interface LatencyContext {
  ns: TestNamespace;
  nc: NatsConnection;
  redis: Redis;
  receiver: Receiver;
  alertManager: Replica;
  ingest: Ingest;
}

/** Publishes ALERTS breaches of new series (`<key>-<i>`), with `loadPerS` samples/s of ingest meanwhile, and times each to its webhook. */
async function latencyRun(ctx: LatencyContext, key: string, label: string, groupWaitS: number, loadPerS: number): Promise<LatencyResult> {
  const { ns, nc, redis, receiver, alertManager, ingest } = ctx;
  const subject = `${ns.id}.metrics.ingest.bench`;
  const load = loadPerS > 0 ? backgroundLoad(ingest, loadPerS) : undefined;
  let loadResult: PublishResult | undefined;
  const cpu = new CpuSampler([]);
  let machineCpu = NaN;
  const labels = Array.from({ length: ALERTS }, (_, i) => `${key}-${i}`);
  let sent: Map<string, { perf: number; wall: number }>;
  let histBefore: Awaited<ReturnType<typeof evaluationHistogram>>;
  let histAfter: Awaited<ReturnType<typeof evaluationHistogram>>;
  let backlog = NaN;
  try {
    if (load) await sleep(LOAD_LEAD_MS);
    histBefore = await evaluationHistogram(alertManager.opsPort);
    sent = await publishPaced(nc, subject, labels);
    backlog = await alertManagerBacklog(ingest);
    await waitFor(() => (labels.every((n) => receiver.arrivals.has(n)) ? true : undefined), 30_000 + groupWaitS * 1000, 'every alert notified', 20).catch(() => undefined);
    // Give duplicates (redeliveries, replays) a chance to show.
    await sleep(2000);
    histAfter = await evaluationHistogram(alertManager.opsPort);
  } finally {
    machineCpu = cpu.stop().machinePercent;
    loadResult = await load?.stop();
  }
  // The next run starts on an idle pipeline.
  if (load) await settle(ingest);

  const latencies: number[] = [];
  const toEval: number[] = [];
  const evalToEnqueue: number[] = [];
  const enqueueToWorker: number[] = [];
  const workerToSend: number[] = [];
  const sendToArrival: number[] = [];
  const evalToSend: number[] = [];
  let duplicates = 0;
  const missing: string[] = [];
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
    { name: 'evaluation → delivery job added (Lua, outbox relay, history, silence/inhibit, group wait)', values: evalToEnqueue },
    { name: 'job added → worker took it (BullMQ)', values: enqueueToWorker },
    { name: 'worker took it → webhook request signed', values: workerToSend },
    { name: 'evaluation → webhook request signed (all of the above)', values: evalToSend },
    { name: 'webhook request → arrival (HTTP)', values: sendToArrival },
  ]
    .filter((st) => st.values.length > 0)
    .map((st) => ({ name: st.name, stats: summarize(st.values) }));
  const evalBatchMs = histBefore && histAfter && histAfter.count > histBefore.count ? ((histAfter.sum - histBefore.sum) / (histAfter.count - histBefore.count)) * 1000 : undefined;
  const loadPublishedPerS = loadResult ? (loadResult.acked * SAMPLES_PER_MESSAGE) / ((loadResult.stoppedAt - loadResult.firstAt) / 1000) : 0;
  const result = { label, groupWaitS, loadPerS, loadPublishedPerS, machineCpu, alertManagerBacklog: backlog, sent: ALERTS, received: latencies.length, duplicates, missing, latency: summarize(latencies), stages, evalBatchMs };
  const l = result.latency;
  console.log(
    `  ${label}: p50 ${fmt(l.p50)} ms, p90 ${fmt(l.p90)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms; received ${result.received} of ${ALERTS}, duplicates ${duplicates}` +
      `${load ? `; ingest ${thousands(loadPublishedPerS)} samples/s meanwhile` : ''}; alert-manager backlog ${backlog} SAMPLES messages; machine CPU ${fmt(machineCpu, 0)} %`,
  );
  return result;
}

/** Publishes the warm-up alerts (JIT, connection pools, script cache, BullMQ worker, HTTP keep-alive) and waits for them. */
async function warmUp(ctx: LatencyContext, key: string, groupWaitS: number): Promise<void> {
  const warm = Array.from({ length: WARMUP_ALERTS }, (_, i) => `${key}-${i}`);
  await publishPaced(ctx.nc, `${ctx.ns.id}.metrics.ingest.bench`, warm);
  await waitFor(() => (warm.every((n) => ctx.receiver.arrivals.has(n)) ? true : undefined), 30_000 + groupWaitS * 1000, `${WARMUP_ALERTS} warm-up alerts`, 20).catch((err: unknown) => {
    throw new Error(`${String(err)} (got ${warm.filter((n) => ctx.receiver.arrivals.has(n)).length})\n--- alert-manager output ---\n${ctx.alertManager.proc.output()}`);
  });
  await sleep(500);
}

// ---------------------------------------------------------------------------------------------------------
// 3. Evaluation throughput (the alert-manager process, fed through NATS)
// ---------------------------------------------------------------------------------------------------------

const METRICS = 100;
const VARIATIONS = 10;
const SERIES = 10;
/** Batches published before each measured run, so every series and alert state exists and the JITs are warm. */
const EVAL_WARMUP_BATCHES = 3;
/**
 * INGEST and SAMPLES messages not yet evaluated at which publishing pauses. The alert-manager holds at most 10 SAMPLES
 * messages (its max ack pending, core.queueSize / core.batchSize), so a queue a few times that keeps it busy, and a
 * deeper one would only lengthen the drain.
 */
const EVAL_MAX_PENDING = 40;

/**
 * The rules file of step 3: 1,000 rules, 100 metrics × 10 thresholds; half match region=eu only, half eu or us (a
 * regex). One rule a line as JSON, which is YAML's flow style.
 */
function benchRulesYaml(): string {
  const lines = ['rules:'];
  for (let m = 0; m < METRICS; m++) {
    for (let v = 0; v < VARIATIONS; v++) {
      const rule = {
        name: `Bench_m${m}_v${v}`,
        metric: `bench_metric_${m}`,
        comparator: '>',
        threshold: 1000 + v * 100,
        severity: (['critical', 'warning', 'info'] as const)[v % 3],
        matchers: v < VARIATIONS / 2 ? [{ tag: 'region', value: 'eu' }] : [{ tag: 'region', op: '=~', value: 'eu|us' }],
        summary: 'Bench {{alertname}} on {{series}}',
      };
      lines.push(`  - ${JSON.stringify(rule)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The ingest messages of one batch: 100 metrics × 10 series of the run `key`, all at `ts`, SAMPLES_PER_MESSAGE
 * samples a message. Series 0–4 are region eu (10 rules each), 5–9 region us (5 rules each); series
 * `breachingSeries` of every metric breaches all of them, the others none.
 */
function benchBatchMessages(key: string, ts: number, breachingSeries: number | undefined): Uint8Array[] {
  const messages: Uint8Array[] = [];
  let samples: string[] = [];
  const flush = () => {
    if (samples.length > 0) messages.push(Buffer.from(`{"samples":[${samples.join(',')}]}`));
    samples = [];
  };
  for (let m = 0; m < METRICS; m++) {
    for (let s = 0; s < SERIES; s++) {
      const value = s === breachingSeries ? 5000 + Math.random() * 100 : Math.random() * 100;
      samples.push(`{"name":"bench_metric_${m}","value":${value},"ts":${ts},"tags":{"region":"${s < SERIES / 2 ? 'eu' : 'us'}","series":"${key}-s${s}"}}`);
      if (samples.length === SAMPLES_PER_MESSAGE) flush();
    }
  }
  flush();
  return messages;
}

/**
 * Messages of the load the alert-manager has not evaluated yet: INGEST messages the processor has not acked, then
 * SAMPLES messages the alert-manager has not. Read in that order: the processor acks a message only once its samples
 * are in SAMPLES, so nothing published slips between the two readings.
 */
async function evaluationBacklog(ingest: Ingest): Promise<number> {
  const processor = await ingest.jsm.consumers.info(`${ingest.ns.id}_INGEST`, 'processor');
  return processor.num_pending + processor.num_ack_pending + (await alertManagerBacklog(ingest));
}

/** Waits until the alert-manager has evaluated everything published; returns performance.now() of that reading. */
async function evaluated(ingest: Ingest, alertManager: Replica): Promise<number> {
  let left = NaN;
  return waitFor(async () => ((left = await evaluationBacklog(ingest)) === 0 ? performance.now() : undefined), DRAIN_TIMEOUT_MS, 'the alert-manager to evaluate every published batch', 20).catch(
    (err: unknown) => {
      throw new Error(`${String(err)} (${left} INGEST and SAMPLES messages left)\n--- alert-manager output ---\n${alertManager.proc.output().slice(-4000)}`);
    },
  );
}

interface ThroughputResult {
  label: string;
  /** Batches and samples published in the measured run. */
  batches: number;
  samples: number;
  /** Rule evaluations the alert-manager counted meanwhile (tmon_alert_evaluations_total). */
  evaluations: number;
  /** From the first publish until the alert-manager had evaluated everything. */
  seconds: number;
  samplesPerS: number;
  evaluationsPerS: number;
  /** Batches the alert-manager evaluated them in, and its mean time per batch (tmon_alert_evaluation_seconds). */
  consumedBatches: number;
  batchMeanMs: number;
  /** Share of the publishing time spent waiting for the alert-manager: near 100 %, it set the pace, not the publisher. */
  gatedPercent: number;
  /** CPU in % of one core (alert-manager, Redis) and in % of all cores (machine). */
  cpu: { alertManager: number; redis: number; machine: number };
}

/** Everything an evaluation run needs. */
interface ThroughputContext {
  ingest: Ingest;
  alertManager: Replica;
}

/**
 * Publishes batches to the processor's ingest subject whenever fewer than EVAL_MAX_PENDING messages wait, for
 * EVAL_SECONDS, then waits until the alert-manager has evaluated them all. With `breach`, one series in ten of every
 * metric breaches, a different one each batch, so alerts fire and the previous batch's resolve. The series are the
 * run's own (`key`), so a run does not meet the alert states of another.
 */
async function throughputRun(ctx: ThroughputContext, key: string, label: string, breach: boolean): Promise<ThroughputResult> {
  const { ingest, alertManager } = ctx;
  const subject = `${ingest.ns.id}.metrics.ingest.eval`;
  let seq = 0;
  let ts = 0;
  let published = 0;
  // Its own message ids, so a retried publish is stored once; waits for JetStream's acks, so the backlog counts it.
  const publishBatch = async (): Promise<void> => {
    ts = Math.max(Date.now(), ts + 1);
    const breaching = breach ? published % SERIES : undefined;
    published++;
    await Promise.all(benchBatchMessages(key, ts, breaching).map((data) => ingest.js.publish(subject, data, { msgID: `${ingest.ns.id}-eval-${key}-${seq++}`, timeout: 30_000 })));
  };
  const counters = async () => {
    const h = await evaluationHistogram(alertManager.opsPort);
    if (!h) throw new Error(`no tmon_alert_evaluation_seconds or tmon_alert_evaluations_total on the alert-manager's /metrics (ops port ${alertManager.opsPort})`);
    return h;
  };

  const cold = await counters();
  for (let i = 0; i < EVAL_WARMUP_BATCHES; i++) await publishBatch();
  await evaluated(ingest, alertManager);
  // The storage has the same samples to store: the run starts once it is idle too.
  if (!(await ingest.monitor.drained(DRAIN_TIMEOUT_MS)).drained) console.log(`  WARNING: the storage did not drain the warm-up within ${DRAIN_TIMEOUT_MS / 1000} s`);
  const before = await counters();
  if (before.evaluations === cold.evaluations) throw new Error(`the alert-manager evaluated no rule in the warm-up (rules file not loaded?)\n--- alert-manager output ---\n${alertManager.proc.output().slice(-4000)}`);

  const pid = alertManager.proc.child.pid;
  const cpu = new CpuSampler([
    { label: 'alert-manager', pids: () => (pid === undefined ? [] : [pid]) },
    { label: 'redis', pids: () => pidsByComm('redis-server') },
  ]);
  let batches = 0;
  let gatedMs = 0;
  const firstAt = performance.now();
  const end = firstAt + EVAL_SECONDS * 1000;
  while (performance.now() < end) {
    if ((await evaluationBacklog(ingest)) >= EVAL_MAX_PENDING) {
      const from = performance.now();
      await sleep(10);
      gatedMs += performance.now() - from;
      continue;
    }
    await publishBatch();
    batches++;
  }
  const publishedMs = performance.now() - firstAt;
  const doneAt = await evaluated(ingest, alertManager);
  const after = await counters();
  const report = cpu.stop();
  const groupCpu = (name: string) => report.groups.find((g) => g.label === name)?.percent ?? NaN;
  // The next run starts on an idle pipeline.
  if (!(await ingest.monitor.drained(DRAIN_TIMEOUT_MS)).drained) console.log(`  WARNING: the storage did not drain within ${DRAIN_TIMEOUT_MS / 1000} s`);

  const seconds = (doneAt - firstAt) / 1000;
  const samples = batches * METRICS * SERIES;
  const evaluations = after.evaluations - before.evaluations;
  const consumedBatches = after.count - before.count;
  const result: ThroughputResult = {
    label,
    batches,
    samples,
    evaluations,
    seconds,
    samplesPerS: samples / seconds,
    evaluationsPerS: evaluations / seconds,
    consumedBatches,
    batchMeanMs: consumedBatches > 0 ? ((after.sum - before.sum) / consumedBatches) * 1000 : NaN,
    gatedPercent: (100 * gatedMs) / publishedMs,
    cpu: { alertManager: groupCpu('alert-manager'), redis: groupCpu('redis'), machine: report.machinePercent },
  };
  console.log(
    `  ${label}: ${batches} batches, ${thousands(samples)} samples, evaluated ${fmt(seconds, 2)} s after the first publish → ${thousands(result.samplesPerS)} samples/s; ` +
      `${thousands(evaluations)} rule evaluations → ${thousands(result.evaluationsPerS)}/s; ` +
      `its batches: ${consumedBatches}, mean ${fmt(result.batchMeanMs)} ms and ${thousands(samples / consumedBatches)} samples each; ` +
      `publisher waiting on it ${fmt(result.gatedPercent, 0)} % of ${fmt(publishedMs / 1000)} s; ` +
      `CPU alert-manager ${fmt(result.cpu.alertManager, 0)} %, redis ${fmt(result.cpu.redis, 0)} % of a core, machine ${fmt(result.cpu.machine, 0)} %`,
  );
  return result;
}

async function throughputBench(ctx: ThroughputContext): Promise<{ steady: ThroughputResult; breaching: ThroughputResult }> {
  const steady = await throughputRun(ctx, 'steady', 'steady state (0 % breach)', false);
  const breaching = await throughputRun(ctx, 'breach', '10 % breaching (fire + resolve each batch)', true);
  return { steady, breaching };
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  let ns: TestNamespace | undefined;
  let nc: NatsConnection | undefined;
  let redis: Redis | undefined;
  let receiver: Receiver | undefined;
  let monitor: PipelineMonitor | undefined;
  const procs: Replica[] = [];
  try {
    ns = await createTestNamespace();
    const shippedGroupWait = ns.config.alerts.groupWait;
    console.log(`alert bench, namespace ${ns.id}; shipped alerts.groupWait ${shippedGroupWait} s, groupBy ${ns.config.alerts.groupBy.join(', ')}`);
    receiver = await startReceiver();
    const rulesFile = join(ns.env.DATA_DIR!, 'alert-rules.yaml');
    await writeFile(rulesFile, RULES_YAML);

    const started = performance.now();
    const pipeline = await startReplicas(ns, ['processor', 'storage'], 1, procs);
    let alertManager = await startAlertManager(ns, procs, receiver, rulesFile, 0);
    console.log(`  processor, storage and alert-manager ready after ${fmt((performance.now() - started) / 1000)} s`);
    nc = await connect({ servers: ns.config.nats.url });
    const jsm: JetStreamManager = await nc.jetstreamManager();
    monitor = new PipelineMonitor(jsm, ns, pipeline.filter((r) => r.proc.name === 'storage'));
    const ingest: Ingest = { js: nc.jetstream(), jsm, ns, subject: `${ns.id}.metrics.ingest.load`, factory: new MessageFactory(), idPrefix: `${ns.id}-load`, monitor };
    redis = ns.redis();

    console.log(`\n1. ingest capacity (100-sample messages over 10,000 series as fast as stored, ${CAPACITY_SECONDS} s; the alert-manager evaluates every sample)`);
    const capacity = await measureCapacity(ingest);
    const loadPerS = capacity.perS / 2;
    console.log(`  ${thousands(capacity.perS)} samples/s (${thousands(capacity.stored)} samples in ${fmt(capacity.seconds, 2)} s); background load of step 2: ${thousands(loadPerS)} samples/s`);

    console.log(`\n2. breach-to-notification latency (${ALERTS} alerts of new series, one every ${INTERVAL_MS} ms, webhook)`);
    const runs: LatencyResult[] = [];
    for (const groupWait of [0, shippedGroupWait]) {
      if (groupWait !== 0) {
        await stopProcess(alertManager.proc);
        procs.splice(procs.indexOf(alertManager), 1);
        alertManager = await startAlertManager(ns, procs, receiver, rulesFile, undefined);
      }
      const ctx: LatencyContext = { ns, nc, redis, receiver, alertManager, ingest };
      const setting = groupWait === shippedGroupWait ? `groupWait ${groupWait} s (shipped)` : `groupWait ${groupWait}`;
      await warmUp(ctx, `w${groupWait}`, groupWait);
      runs.push(await latencyRun(ctx, `g${groupWait}-idle`, `${setting}, no other ingest`, groupWait, 0));
      runs.push(await latencyRun(ctx, `g${groupWait}-load`, `${setting}, ingest at half capacity`, groupWait, loadPerS));
    }
    // The shipped setting first.
    runs.sort((a, b) => b.groupWaitS - a.groupWaitS);

    console.log(
      `\n3. rule-evaluation throughput (the alert-manager process with the shipped settings, fed through NATS, processor included: ` +
        `${METRICS * VARIATIONS} rules, batches of ${METRICS * SERIES} samples published as fast as it evaluates them, ${EVAL_SECONDS} s each)`,
    );
    // Restarted on the rules of step 3 (they replace step 2's file rule), with the shipped settings.
    await stopProcess(alertManager.proc);
    procs.splice(procs.indexOf(alertManager), 1);
    const evalRulesFile = join(ns.env.DATA_DIR!, 'alert-rules-eval.yaml');
    const evalRules = benchRulesYaml();
    // Checked here as the alert-manager will parse it: a refused file would only show as a log line and no evaluations.
    const parsed = parseRulesFile(evalRules, evalRulesFile).length;
    if (parsed !== METRICS * VARIATIONS) throw new Error(`the rules file of step 3 holds ${parsed} rules, not ${METRICS * VARIATIONS}`);
    await writeFile(evalRulesFile, evalRules);
    alertManager = await startAlertManager(ns, procs, receiver, evalRulesFile, undefined);
    const { steady, breaching } = await throughputBench({ ingest, alertManager });

    console.log('\nsummary: publish → webhook arrival, ms');
    const line = (cells: string[]) => console.log(`  ${cells[0]!.padEnd(48)}${cells.slice(1).map((c) => c.padStart(9)).join('')}`);
    line(['run', 'p50', 'p90', 'p99', 'max', 'received', 'dups', 'CPU %']);
    for (const r of runs) line([r.label, fmt(r.latency.p50), fmt(r.latency.p90), fmt(r.latency.p99), fmt(r.latency.max), `${r.received}/${r.sent}`, String(r.duplicates), fmt(r.machineCpu, 0)]);
    console.log(`  (ingest capacity ${thousands(capacity.perS)} samples/s; the loaded runs offered ${thousands(loadPerS)} samples/s and published ${runs.filter((r) => r.loadPerS > 0).map((r) => thousands(r.loadPublishedPerS)).join(' and ')})`);
    for (const r of runs) {
      if (r.missing.length) console.log(`  ${r.label}: MISSING ${r.missing.length}: ${r.missing.slice(0, 20).join(', ')}`);
      console.log(`  where the time goes, ${r.label} (ms; wall clocks of this machine):`);
      console.log(`    ${'stage'.padEnd(90)} ${'p50'.padStart(7)} ${'p90'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}`);
      for (const st of r.stages) console.log(`    ${st.name.padEnd(90)} ${fmt(st.stats.p50).padStart(7)} ${fmt(st.stats.p90).padStart(7)} ${fmt(st.stats.p99).padStart(7)} ${fmt(st.stats.max).padStart(7)}`);
      if (r.evalBatchMs !== undefined) console.log(`    alert-manager evaluateBatch per consumed batch (its own histogram): mean ${fmt(r.evalBatchMs, 2)} ms`);
    }
    if (receiver.badRequests() > 0) console.log(`  ${receiver.badRequests()} webhook requests could not be parsed`);
    console.log('  rule evaluation, the alert-manager process through NATS (shipped settings, processor included):');
    console.log(`  evaluation, steady state: ${thousands(steady.samplesPerS)} samples/s, ${thousands(steady.evaluationsPerS)} rule evaluations/s, mean ${fmt(steady.batchMeanMs)} ms per batch it evaluated`);
    console.log(`  evaluation, 10 % breach:  ${thousands(breaching.samplesPerS)} samples/s, ${thousands(breaching.evaluationsPerS)} rule evaluations/s, mean ${fmt(breaching.batchMeanMs)} ms per batch it evaluated`);

    if (runs.some((r) => r.received !== r.sent || r.duplicates !== 0)) process.exitCode = 1;
    console.log(
      JSON.stringify({
        bench: 'alert',
        group_wait_s: shippedGroupWait,
        ingest_capacity_per_s: Math.round(capacity.perS),
        runs: runs.map((r) => ({
          group_wait_s: r.groupWaitS,
          ingest_per_s: Math.round(r.loadPublishedPerS),
          p50_ms: r1(r.latency.p50),
          p99_ms: r1(r.latency.p99),
          max_ms: r1(r.latency.max),
          alerts: r.received,
          duplicates: r.duplicates,
        })),
        evaluations_per_s: r1(steady.evaluationsPerS),
        samples_per_s: r1(steady.samplesPerS),
      }),
    );
  } catch (err) {
    for (const p of procs) console.error(`--- ${p.label} output ---\n${p.proc.output().slice(-4000)}`);
    throw err;
  } finally {
    await monitor?.stop().catch(() => undefined);
    await Promise.allSettled(procs.map((p) => stopProcess(p.proc, 5000)));
    await nc?.close().catch(() => undefined);
    if (receiver) {
      receiver.server.closeAllConnections();
      await new Promise((r) => receiver!.server.close(r));
    }
    await ns?.cleanup();
  }
}

await main();
