import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Bus } from '@terminusa/bus';
import type { Redis } from 'ioredis';
import type { Config } from '@terminusa/config';
import { WrittenSeries } from '@terminusa/metric-store';
import { redisOptions, type Logger } from '@terminusa/runtime';
import type { CollectorMetrics } from '../collector-metrics.ts';
import { SAMPLE_SOURCES, type PublishSamples } from '../publish-samples.ts';
import { runHttpProbe } from '../probe/http-probe.ts';
import { runTcpProbe } from '../probe/tcp-probe.ts';
import { scrapeTarget, type ScrapeTarget } from '../scrape/scrape-target.ts';
import { discoverSelfTargets } from '../scrape/self-targets.ts';
import { AppliedSchedule, scheduleDigest, type AppliedConfig } from './applied-schedule.ts';
import { desiredSchedulers, syncSchedulers, type CollectorJob, type Probe, type RemovedJobs, type SchedulerSync } from './job-schedulers.ts';

/** Name of the BullMQ queue the collector replicas share. */
export const COLLECTOR_QUEUE = 'collector';

/** Shortest time between two checks that every scheduler still has its next run. */
const MIN_RECONCILE_MS = 10_000;

/** What the collector jobs need. */
export interface CollectorJobsDeps {
  config: Readonly<Config>;
  bus: Bus;
  /** Where each target's scraped series are remembered between scrapes (for staleness markers). */
  redis: Redis;
  logger: Logger;
  metrics: CollectorMetrics;
  publish: PublishSamples;
}

/** The running collector jobs of this replica. */
export interface CollectorJobs {
  readonly queue: Queue;
  /** Takes a new configuration: later runs use its settings, and the schedulers are synced to its targets and probes. */
  applyConfig(config: Readonly<Config>): Promise<SchedulerSync>;
  /**
   * The periodic check (run on a timer): restarts broken scheduler chains and re-syncs, unless another replica
   * applied a configuration it loaded later than this one's (AppliedSchedule).
   */
  check(): Promise<SchedulerSync>;
  stop(): Promise<void>;
}

/**
 * App scrapes and custom probes as BullMQ job schedulers in Redis: one per target, one per probe and one
 * `discover-self`, each making one job per period, and a worker on every replica taking jobs as they come due, so
 * the work spreads over the replicas and each job runs once per period. A replica that dies holds its jobs only
 * until their lock runs out (at most one period); the others then take them, and its future runs were never its own.
 *
 * Why BullMQ rather than a JetStream work queue: a work queue hands each message to one consumer, but something
 * would still have to put one message per target on it every period, exactly once across the replicas — a leader or
 * a dedup window plus a timer per target, and bookkeeping of removed targets. BullMQ's job schedulers are that
 * already: per-job repeat schedules, deduplicated per (scheduler, time slot), with stalled-job recovery; there is no
 * extra state machine to write.
 */
export async function startCollectorJobs(deps: CollectorJobsDeps): Promise<CollectorJobs> {
  const { bus, redis, logger, metrics, publish } = deps;
  let config = deps.config;
  // The schedulers of the configuration in use, worked out when it is taken, so that one they cannot be made from is
  // refused there rather than taken: taken first, every later check (and so the schedule) failed on it.
  let desired = desiredSchedulers(config.collection);
  const connection: ConnectionOptions = redisOptions(config, 'blocking');
  const prefix = `${config.redis.prefix}bull`;
  const queue = new Queue(COLLECTOR_QUEUE, { connection, prefix });
  // Locks last at most one period, so a job held by a dead worker is retried within the next period; the lock of a
  // job still running is renewed every half of it.
  const periodMs = Math.min(config.collection.intervals.app, config.collection.intervals.custom) * 1000;

  const writtenSeriesOf = (target: ScrapeTarget) => new WrittenSeries(redis, `${config.redis.prefix}collector:written:${target.job}:${target.url}`, config.collection.intervals.app * 1000);

  const scrape = async (target: ScrapeTarget) => {
    const report = await scrapeTarget(target, { timeoutMs: Math.min(config.loadBalance.timeout, config.collection.intervals.app) * 1000, staticTags: config.collection.tags, limits: config.collection.scrapeLimits, tagLimits: config.ingest });
    metrics.scrapes.inc({ target: target.job, outcome: report.up ? 'up' : 'down' });
    if (report.nonFinite > 0) metrics.samplesDropped.inc({ target: target.job, reason: 'nonfinite' }, report.nonFinite);
    if (report.invalid > 0) metrics.samplesDropped.inc({ target: target.job, reason: 'invalid' }, report.invalid);
    if (!report.up) logger.info('target down', { target: target.job, url: target.url, error: report.error });
    // As Prometheus: a series gone from the scrape, or every series of a failed one, is marked stale; samples with a
    // timestamp of their own are not (their time is the exporter's, not the scrape's).
    const written = writtenSeriesOf(target);
    const scraped = report.samples.filter((s) => s.ts === report.ts);
    await publish(SAMPLE_SOURCES.scrape, [...report.samples, ...(await written.markersFor(scraped, report.ts))]);
    await written.remember(scraped);
  };

  const probe = async (definition: Probe) => {
    const options = { timeoutMs: Math.min(config.loadBalance.timeout, config.collection.intervals.custom) * 1000, tags: { ...config.collection.tags, ...definition.tags, probe: definition.name } };
    const report = definition.kind === 'http' ? await runHttpProbe(definition, options) : await runTcpProbe(definition, options);
    metrics.probes.inc({ probe: definition.name, outcome: report.success ? 'success' : 'failure' });
    if (!report.success) logger.info('probe failed', { probe: definition.name, error: report.error });
    await publish(SAMPLE_SOURCES.probe, report.samples);
  };

  const worker = new Worker(
    COLLECTOR_QUEUE,
    async (job: Job) => {
      const { name, data } = job as unknown as CollectorJob;
      // A job whose replica died running it comes back (BullMQ puts a stalled scheduler job back in the queue whatever
      // maxStalledCount says). Run then, 1–2 periods late, it published its period twice when the death came after
      // publishing; the next period's job was scheduled when it started and runs anyway. So that period is a scrape
      // missed, as Prometheus' would be.
      if (job.stalledCounter > 0) {
        metrics.jobsAbandoned.inc({ kind: name });
        logger.info('collection job abandoned: its replica died running it', { job: name, scheduler: job.repeatJobKey });
        return;
      }
      metrics.jobsRun.inc({ kind: name });
      if (name === 'scrape') await scrape(data.target);
      else if (name === 'probe') await probe(data.probe);
      else {
        const targets = await discoverSelfTargets(bus, config.nats.prefix, config.ops.metricsToken);
        const errors = await forEachLimited(targets, config.core.workers, scrape);
        if (errors.length > 0) throw new AggregateError(errors, `${errors.length} of ${targets.length} self scrapes could not be published`);
      }
    },
    { connection, prefix, concurrency: config.core.workers, lockDuration: periodMs, stalledInterval: periodMs },
  );
  worker.on('error', (err) => logger.error('collector worker error', { err }));
  worker.on('failed', (job, err) => logger.warn('collector job failed', { job: job?.name, scheduler: job?.repeatJobKey, err }));

  /**
   * A target removed from the configuration: its series marked stale once, by the replica that removed its
   * scheduler, as Prometheus does when a target leaves; they lingered for the lookback window.
   */
  const endRemovedTargets = async (removed: RemovedJobs) => {
    for (const job of removed) {
      if (job.name !== 'scrape') continue;
      const written = writtenSeriesOf(job.data.target);
      const markers = await written.markersFor([], Date.now());
      if (markers.length) await publish(SAMPLE_SOURCES.scrape, markers);
      await written.remember([]);
    }
  };

  const checkEveryMs = Math.max(MIN_RECONCILE_MS, 3 * config.collection.intervals.app * 1000);
  // Three missed checks: its replicas stopped (an old one restarted in a rollout, then replaced).
  const applied = new AppliedSchedule(redis, `${config.redis.prefix}collector:schedule`, 3 * checkEveryMs);
  let loadedAt = Date.now();
  let waitingFor: string | undefined;
  const syncNow = async (trigger: 'load' | 'check'): Promise<SchedulerSync> => {
    // Held for the whole sync: a reload taken while it waits on Redis is the next sync's to apply.
    const wanted = desired;
    const mine: AppliedConfig = { digest: scheduleDigest(wanted), loadedAt };
    const newer = await applied.claim(mine, trigger === 'load');
    if (newer) {
      if (waitingFor !== newer.digest) logger.warn('collection configuration differs from the one another replica loaded later: leaving the schedulers to it while it runs, or until this replica’s file changes', { mine: mine.digest, applied: newer.digest, appliedLoadedAt: new Date(newer.loadedAt).toISOString() });
      waitingFor = newer.digest;
      return { added: [], updated: [], removed: [], restarted: [] };
    }
    waitingFor = undefined;
    const removed: RemovedJobs = [];
    const changes = await syncSchedulers(queue, wanted, Date.now(), removed);
    if (Object.values(changes).some((ids) => ids.length > 0)) logger.info('collector schedulers synced', { ...changes });
    await endRemovedTargets(removed);
    return changes;
  };
  // One sync at a time, each after the one before: the timer's check, built from the old configuration, read the
  // schedulers after a reload's sync and removed its new targets (their staleness markers sent) until the next check.
  let syncs: Promise<unknown> = Promise.resolve();
  const sync = (trigger: 'load' | 'check'): Promise<SchedulerSync> => {
    const next = syncs.then(() => syncNow(trigger));
    syncs = next.catch(() => undefined);
    return next;
  };
  await sync('load');
  const reconcile = setInterval(
    () => void sync('check').catch((err: unknown) => logger.error('scheduler check failed', { err })),
    checkEveryMs,
  );

  return {
    queue,
    async applyConfig(next) {
      desired = desiredSchedulers(next.collection);
      config = next;
      loadedAt = Date.now();
      return sync('load');
    },
    check: () => sync('check'),
    async stop() {
      clearInterval(reconcile);
      // The worker first: it finishes the jobs in hand (each bounded by its timeout) while the queue can still record them.
      await worker.close();
      await queue.close();
    },
  };
}

/** Runs `fn` over `items`, at most `limit` at a time; returns the errors instead of stopping at the first. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item).catch((err: unknown) => errors.push(err));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return errors;
}
