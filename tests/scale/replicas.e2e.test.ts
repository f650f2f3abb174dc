/**
 * Issue #8, part 5: two replicas of every service at once, as real processes in one namespace.
 *
 * Two processes each of collector, processor, storage, alert-manager, backup and api-gateway, every one with
 * its own ops port (and each gateway its own HTTP port), so each replica's own prom-client `/metrics` is read.
 * 1. Work is shared: a stream of samples is handled partly by each processor, storage and alert-manager
 *    replica (their own counters), scrape jobs run on both collectors, both gateways answer.
 * 2. Nothing is done twice: the exact number of samples in PostgreSQL, one webhook notification for one
 *    breach, one backup for one request, one scrape per target per interval.
 * 3. One replica of each service is SIGKILLed mid-stream: the survivors take over (a dead replica's unacked
 *    JetStream messages come back after the ack wait, `core.timeout` = 3 s here) and nothing is lost.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { alertKeys } from '@terminusa/alerting';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { alertPipelineIdle as idleAlertPipeline, freePort, ingestPipelineIdle, startServiceProcess, startSuite, waitFor, type RunningSuite, type ServiceProcess } from '@terminusa/testkit';

const METRIC = 'scale_load';
const SERIES = 200;
const SAMPLES_PER_MESSAGE = 100;
const TARGETS = ['alpha', 'beta', 'gamma'];
const SCRAPE_INTERVAL_MS = 1000;

/** One started replica of a service and the ops port its `/metrics` is served on. */
interface Replica {
  service: string;
  proc: ServiceProcess;
  opsPort: number;
  gatewayPort?: number;
}

/** One alert of a webhook notification (one delivery of it), with the notification's idempotency key. */
interface Hook {
  key: string;
  rule: string;
  status: string;
  tag: string | undefined;
}

let suite: RunningSuite;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let redis: Redis;
let hooks: Server;
let targets: Server;
const replicas: Replica[] = [];
const received: Hook[] = [];
/** Wall-clock time of each scrape of `/<target>/metrics`, by target. */
const scrapes = new Map<string, number[]>();
let published = 0;
let nextMessage = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const of = (service: string) => replicas.filter((r) => r.service === service);
const alive = (r: Replica) => r.proc.child.exitCode === null && r.proc.child.signalCode === null;

/** Sum of every series of `counter` on one replica's own `/metrics`. */
async function counter(replica: Replica, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${replica.opsPort}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
}

async function countersOf(service: string, name: string): Promise<number[]> {
  return Promise.all(of(service).filter(alive).map((r) => counter(r, name)));
}

/** Publishes `messages` messages of 100 samples each over the 200 series, `perSecond` at a time, with JetStream acks. */
async function publishStream(messages: number, perSecond: number, onMessage?: (i: number) => Promise<void> | void): Promise<void> {
  const base = Date.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < messages; i++) {
    await onMessage?.(i);
    const due = base + (i * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    const m = nextMessage++;
    const group = m % (SERIES / SAMPLES_PER_MESSAGE);
    // One timestamp per message, unique per series, so every stored row is one published sample.
    const ts = base + m;
    const samples = Array.from({ length: SAMPLES_PER_MESSAGE }, (_, k) => ({ name: METRIC, value: m, ts, tags: { series: String(group * SAMPLES_PER_MESSAGE + k) } }));
    // A generous wait for the stream's ack (5 s by default), for a loaded machine.
    pending.push(js.publish(`${suite.ns.id}.metrics.ingest.scale`, JSON.stringify({ samples }), { msgID: `scale-${m}`, timeout: 30_000 }));
    published += SAMPLES_PER_MESSAGE;
  }
  await Promise.all(pending);
}

/** Samples the engine holds of `match` (it keeps one per series and timestamp: a doubled write would not show, a lost one would). */
async function engineSamples(match: string): Promise<number> {
  const series = await new VictoriaMetrics(suite.ns.config.storage.engine).exportAll(match, 0, Date.now() + 3_600_000);
  return series.reduce((n, s) => n + s.values.length, 0);
}

async function storedSamples(): Promise<number> {
  return engineSamples(`{__name__="${METRIC}"}`);
}


/**
 * Waits until the engine holds what was published and the processor and storage consumers are drained (what a
 * killed replica held was delivered again and done), so no write is still to come; then the count must be exact.
 */
async function expectExactlyStored(timeoutMs: number): Promise<void> {
  await waitFor(async () => ((await storedSamples()) >= published ? true : undefined), timeoutMs, `${published} samples stored`, 250);
  await waitFor(() => ingestPipelineIdle(jsm, suite.ns.config.nats.prefix), timeoutMs, 'the processor and storage consumers drained', 100);
  expect(await storedSamples()).toBe(published);
}

/** Resolves when the alert-managers have nothing in hand; throws naming what they still have (see the testkit's). */
const alertPipelineIdle = () =>
  idleAlertPipeline(jsm, redis, { natsPrefix: suite.ns.config.nats.prefix, redisPrefix: suite.ns.config.redis.prefix, outbox: alertKeys(suite.ns.config.redis.prefix).outbox });

async function api(gateway: Replica, path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${gateway.gatewayPort}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${suite.adminToken}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Breaches the rule `ScaleBreach` for `tag`. */
function breach(tag: string): void {
  nc.publish(`${suite.ns.id}.metrics.ingest.scale`, JSON.stringify({ samples: [{ name: 'scale_breach', value: 1, tags: { case: tag } }] }));
}
/** Firing notifications of `ScaleBreach` for the breach `tag`. */
const hooksFor = (tag: string) => received.filter((h) => h.rule === 'ScaleBreach' && h.status === 'firing' && h.tag === tag);

/**
 * Where the periods of `target`'s scrape scheduler start, as an offset into a whole interval: BullMQ runs a scheduler
 * `every` an interval from its first run, so every run time (the score of its next one in the collector queue's
 * `repeat` set among them) leaves the same remainder.
 */
async function periodPhase(target: string): Promise<number> {
  const next = await redis.zscore(`${suite.ns.config.redis.prefix}bull:collector:repeat`, `scrape:${target}`);
  expect(next, `the scrape scheduler of ${target}`).not.toBeNull();
  return Number(next) % SCRAPE_INTERVAL_MS;
}

/**
 * Waits for `count` scrapes of every target from `from` on (and one more, so a second scrape of the last one's period
 * would have come too), then checks they came one per period of the target's scheduler: no period scraped twice, as
 * two collectors running the same period's job would, and on average no more than 1.6 periods apart, so none doubled
 * and few skipped. A scrape reaches the target at or after its period's run time, so a job picked up late still counts
 * in its own period unless it started a whole interval late. The gaps between scrapes do not tell: a job picked up
 * late and the next one on time come close together without any period running twice.
 */
async function expectOneScrapePerInterval(from: number, count: number): Promise<void> {
  for (const target of TARGETS) {
    const seen = await waitFor(() => {
      const times = (scrapes.get(target) ?? []).filter((t) => t >= from);
      return times.length > count ? times.slice(0, count) : undefined;
    }, 30_000, `${count + 1} scrapes of ${target}`);
    const phase = await periodPhase(target);
    const periods = seen.map((t) => Math.floor((t - phase) / SCRAPE_INTERVAL_MS));
    const why = `${target} periods ${periods.join(',')} (phase ${phase} ms), gaps ${seen.slice(1).map((t, i) => t - seen[i]!).join(',')} ms`;
    expect(new Set(periods).size, why).toBe(seen.length);
    // Distinct, in order (the target records them as they come): so at least one period apart on average.
    expect((periods.at(-1)! - periods[0]!) / (periods.length - 1), why).toBeLessThanOrEqual(1.6);
  }
}

/**
 * Resolves when the backup queue has nothing to run: no job waiting, running, or delayed other than the next runs of
 * its schedulers (ids `repeat:…`, due at their cron times far off, which every replica declares); throws naming what
 * is left. Once it holds after a request, any second run of that request (by the other replica) has finished too.
 */
async function backupQueueIdle(): Promise<true> {
  const queue = `${suite.ns.config.redis.prefix}bull:backup`;
  const work: [string, number][] = [];
  for (const list of ['wait', 'active', 'paused']) work.push([`${list} jobs`, await redis.llen(`${queue}:${list}`)]);
  for (const set of ['prioritized', 'waiting-children']) work.push([`${set} jobs`, await redis.zcard(`${queue}:${set}`)]);
  work.push(['delayed jobs', (await redis.zrange(`${queue}:delayed`, 0, -1)).filter((id) => !id.startsWith('repeat:')).length]);
  const inHand = work.filter(([, n]) => n > 0);
  if (inHand.length > 0) throw new Error(`the backup queue still has ${inHand.map(([what, n]) => `${n} ${what}`).join(', ')}`);
  return true;
}

/** Requests a full backup through `gateway` and waits until its job completed; returns the backup's id. */
async function backUp(gateway: Replica): Promise<string> {
  const queued = await api(gateway, '/backups', { method: 'POST', body: JSON.stringify({ kind: 'full' }) });
  expect(queued.status).toBe(202);
  const job = await waitFor(async () => {
    const { status, body } = await api(gateway, `/backups/jobs/${queued.body.jobId}`);
    if (status !== 200) throw new Error(`GET /backups/jobs answered ${status}`);
    if (body.state === 'failed') throw new Error(`the backup failed: ${body.failedReason}`);
    return body.state === 'completed' ? body : undefined;
  }, 30_000, 'the requested backup', 250);
  return job.result.id as string;
}

async function backupIds(gateway: Replica): Promise<string[]> {
  const { status, body } = await api(gateway, '/backups');
  if (status !== 200) throw new Error(`GET /backups answered ${status}`);
  return (body.backups as { id: string }[]).map((b) => b.id);
}

function startReplica(service: string, env: Record<string, string>, opsPort: number, gatewayPort?: number): void {
  const extra: Record<string, string> = { OPS_PORT: String(opsPort) };
  if (gatewayPort) extra.GATEWAY_PORT = String(gatewayPort);
  replicas.push({ service, proc: startServiceProcess(service, { ...env, ...extra }), opsPort, gatewayPort });
}

beforeAll(async () => {
  hooks = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const n = JSON.parse(body).notification as { status: string; alerts: { rule: string; labels: Record<string, string> }[] };
    for (const a of n.alerts) received.push({ key: String(req.headers['idempotency-key']), rule: a.rule, status: n.status, tag: a.labels.case });
    res.writeHead(200).end('ok');
  });
  targets = createServer((req, res) => {
    const [, target, path] = (req.url ?? '').split('/');
    if (path === 'metrics' && target) {
      scrapes.set(target, [...(scrapes.get(target) ?? []), Date.now()]);
      res.writeHead(200).end(`# TYPE ${target}_work_total counter\n${target}_work_total 1\n`);
    } else res.writeHead(200).end('ok');
  });
  await Promise.all([hooks, targets].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/webhook`;
  const targetBase = `http://127.0.0.1:${(targets.address() as AddressInfo).port}`;

  const settings: Record<string, string> = {
    LOG_LEVEL: 'warn',
    // A killed replica's unacknowledged JetStream work is delivered again after core.timeout.
    TMON_CORE__TIMEOUT: '3',
    TMON_ALERTS__GROUP_WAIT: '1',
    TMON_ALERTS__SWEEP_INTERVAL: '0.2',
    TMON_ALERTS__DELIVERY_BACKOFF_MS: '200',
    TMON_ALERTS__CHANNELS__WEBHOOK: JSON.stringify({ url: hookUrl, secret: 'scale-test-webhook-secret' }),
    // No scheduled backup during the test: only the requested ones run.
    TMON_BACKUP__SCHEDULE__FULL: '0 0 1 1 *',
    TMON_BACKUP__SCHEDULE__INCREMENTAL: '0 0 1 1 *',
    TMON_COLLECTION__MODE: 'jobs',
    TMON_COLLECTION__SCRAPE_SELF: 'false',
    TMON_COLLECTION__INTERVALS__APP: String(SCRAPE_INTERVAL_MS / 1000),
  };
  suite = await startSuite({ services: [], env: settings });
  const env = { ...suite.env };
  const rulesFile = join(env.DATA_DIR!, 'scale-rules.yaml');
  await writeFile(rulesFile, `rules:
  - { name: ScaleBreach, metric: scale_breach, comparator: ">", threshold: 0, severity: warning, channels: [webhook] }
  - { name: ScaleNever, metric: ${METRIC}, comparator: ">", threshold: 1e12, severity: info, channels: [webhook] }
`);
  const configFile = join(env.DATA_DIR!, 'collector.yaml');
  await writeFile(configFile, `collection:\n  targets:\n${TARGETS.map((t) => `    - name: ${t}\n      url: ${targetBase}/${t}/metrics\n      healthPath: /${t}/health\n`).join('')}`);
  env.ALERT_RULES_FILE = rulesFile;
  env.CONFIG_FILE = configFile;

  // The suite's gateway is replica one (its ops port picked by itself); the second gets its own ports.
  const suiteGateway = suite.procs[0]!;
  replicas.push({ service: 'api-gateway', proc: suiteGateway, opsPort: 0, gatewayPort: Number(new URL(suite.base).port) });
  startReplica('api-gateway', env, await freePort(), await freePort());
  for (const service of ['processor', 'storage', 'alert-manager', 'backup', 'collector']) {
    // Backup replicas log each backup they take (info), which the test counts.
    for (let i = 0; i < 2; i++) startReplica(service, service === 'backup' ? { ...env, LOG_LEVEL: 'info' } : env, await freePort());
  }

  nc = await connect({ servers: suite.ns.config.nats.url });
  js = nc.jetstream();
  jsm = await nc.jetstreamManager();
  redis = suite.ns.redis();
  try {
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${replicas[1]!.gatewayPort}/health/details`, { headers: { authorization: `Bearer ${suite.adminToken}` } }).catch(() => undefined);
        const body = res && ((await res.json()) as { services?: Record<string, { instances: number }> });
        return ['api-gateway', 'processor', 'storage', 'alert-manager', 'backup', 'collector'].every((s) => (body?.services?.[s]?.instances ?? 0) === 2) ? true : undefined;
      },
      120_000,
      'two replicas of every service discovered',
      500,
    );
    await waitFor(async () => ((await api(replicas[1]!, '/rules')).body?.rules?.length === 2 ? true : undefined), 20_000, 'rules loaded');
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${replicas.map((r) => `--- ${r.service}\n${r.proc.output().slice(-1500)}`).join('\n')}`);
  }
}, 180_000);

afterAll(async () => {
  for (const r of replicas) r.proc.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.proc.exited));
  hooks?.closeAllConnections();
  hooks?.close();
  targets?.closeAllConnections();
  targets?.close();
  await nc?.close();
  await suite?.stop();
});

describe('two replicas of every service', () => {
  it('share the work and do nothing twice', async () => {
    await publishStream(300, 100);
    await expectExactlyStored(30_000);
    // Scrapes are checked from here on, with the stream (which loads the machine) behind.
    const scrapeFrom = Date.now();

    // Each replica of the JetStream consumers handled a share of the stream, as its own counters show.
    const accepted = await countersOf('processor', 'tmon_processor_samples_accepted_total');
    const stored = await countersOf('storage', 'tmon_storage_samples_stored_total');
    const redelivered = await countersOf('storage', 'tmon_storage_samples_redelivered_total');
    const evaluated = await countersOf('alert-manager', 'tmon_alert_evaluations_total');
    const shares = JSON.stringify({ accepted, stored, redelivered, evaluated });
    expect(accepted.every((n) => n > 0), shares).toBe(true);
    expect(stored.every((n) => n > 0), shares).toBe(true);
    expect(evaluated.every((n) => n > 0), shares).toBe(true);
    // The scrapes' samples flow through too, so the counters hold a little more than the stream; but no more
    // than the engine holds in all, which a sample written twice (by two replicas) would exceed. A message JetStream
    // delivered again (its 3 s ack wait ran out on a busy machine) is written again, and counted as redelivered.
    const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
    expect(sum(stored), shares).toBeGreaterThanOrEqual(published);
    expect(sum(accepted), shares).toBeGreaterThanOrEqual(published);
    expect(sum(stored) - sum(redelivered), shares).toBeLessThanOrEqual(await engineSamples('{__name__!=""}'));

    // One breach, one notification, though two alert-managers evaluate and relay.
    breach('one');
    await waitFor(() => (hooksFor('one').length > 0 ? true : undefined), 15_000, 'the webhook notification');
    // Every delivery counted, not only distinct idempotency keys: once nothing is left in the pipeline, a second
    // delivery of the notification would have been received.
    await waitFor(alertPipelineIdle, 30_000, 'the alert pipeline idle', 100);
    expect(hooksFor('one')).toHaveLength(1);

    // One request, one backup, though two backup replicas serve the queue group and BullMQ.
    expect(await backupIds(replicas[0]!)).toEqual([]);
    const id = await backUp(replicas[0]!);
    // Counted once the queue has nothing left to run: a second run of the request, by the other replica, would have
    // finished by then, its backup listed and its log line written.
    await waitFor(backupQueueIdle, 30_000, 'the backup queue idle', 100);
    for (const gateway of of('api-gateway')) expect(await backupIds(gateway), String(gateway.gatewayPort)).toEqual([id]);
    const taken = () => of('backup').map((r) => r.proc.output().split('\n').filter((l) => l.includes('"message":"backup taken"')).length);
    // The job's log line was written before it completed; only the pipe from the process may trail.
    await waitFor(() => (taken().some((n) => n > 0) ? true : undefined), 5_000, 'the backup logged');
    expect(taken().reduce((a, b) => a + b, 0), JSON.stringify(taken())).toBe(1);

    // Both collectors run scrape jobs; each target is scraped once per interval, not once per replica.
    const runs = await countersOf('collector', 'tmon_collector_jobs_run_total');
    expect(runs.every((n) => n > 0), JSON.stringify(runs)).toBe(true);
    await expectOneScrapePerInterval(scrapeFrom, 8);

    // Both gateways serve the API on their own port.
    for (const gateway of of('api-gateway')) {
      const { body } = await api(gateway, `/metrics/current?name=${METRIC}&tag.series=7`);
      expect(body.values, String(gateway.gatewayPort)).toEqual([expect.objectContaining({ name: METRIC, tags: { series: '7' } })]);
    }
  }, 120_000);

  it('lose nothing when one replica of each is SIGKILLed mid-stream', async () => {
    const before = await countersOf('storage', 'tmon_storage_samples_stored_total');
    const backupsBefore = await backupIds(replicas[0]!);
    const victims = ['processor', 'storage', 'alert-manager', 'backup', 'collector', 'api-gateway'].map((s) => of(s).at(-1)!);
    const survivors = replicas.filter((r) => !victims.includes(r));
    let killedAt = 0;
    await publishStream(600, 100, async (i) => {
      if (i !== 200) return;
      for (const v of victims) v.proc.kill('SIGKILL');
      await Promise.all(victims.map((v) => v.proc.exited));
      killedAt = Date.now();
    });
    // Every sample is stored exactly once: the dead replicas' unacked messages were delivered again.
    await expectExactlyStored(60_000);
    const storedAt = Date.now();
    const survivingStorage = survivors.filter((r) => r.service === 'storage')[0]!;
    expect(await counter(survivingStorage, 'tmon_storage_samples_stored_total')).toBeGreaterThan(before[0]!);

    // The survivors alert, back up and scrape alone.
    const gateway = survivors.find((r) => r.service === 'api-gateway')!;
    breach('two');
    await waitFor(() => (hooksFor('two').length > 0 ? true : undefined), 20_000, 'the notification after the kill');
    await waitFor(alertPipelineIdle, 30_000, 'the alert pipeline idle', 100);
    expect(hooksFor('two')).toHaveLength(1);
    expect(hooksFor('one')).toHaveLength(1);
    const second = await backUp(gateway);
    await waitFor(backupQueueIdle, 30_000, 'the backup queue idle', 100);
    expect((await backupIds(gateway)).sort()).toEqual([...backupsBefore, second].sort());

    // Once the dead collector's locks ran out (within an interval or two), the survivor scrapes every target, still
    // once per interval; checked from after the stream, which loads the machine.
    await expectOneScrapePerInterval(Math.max(killedAt + 3000, storedAt), 4);
    const runs = await countersOf('collector', 'tmon_collector_jobs_run_total');
    expect(runs).toHaveLength(1);
  }, 150_000);
});
