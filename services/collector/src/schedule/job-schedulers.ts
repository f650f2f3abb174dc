import type { Queue } from 'bullmq';
import type { Config } from '@terminusa/config';
import type { ScrapeTarget } from '../scrape/scrape-target.ts';

/** A configured HTTP or TCP probe. */
export type Probe = Config['collection']['probes'][number];

/** The jobs of the collector queue: a target's scrape, the scrape of the suite's own instances, a probe. */
export type CollectorJob =
  | { name: 'scrape'; data: { target: ScrapeTarget } }
  | { name: 'discover-self'; data: Record<string, never> }
  | { name: 'probe'; data: { probe: Probe } };

/** One job scheduler: its id, its period, and the job it makes each period. */
export interface SchedulerSpec {
  id: string;
  everyMs: number;
  job: CollectorJob;
}

/** What a sync changed, by scheduler id. */
export interface SchedulerSync {
  added: string[];
  updated: string[];
  removed: string[];
  /** Schedulers whose chain of jobs had broken off (see `syncSchedulers`), started again. */
  restarted: string[];
}

/** The jobs of the schedulers one sync removed itself (another replica's removal of the same one is not among them). */
export type RemovedJobs = CollectorJob[];

// A run that fails is not retried: the next period's run comes soon enough and a retry would only run late.
const JOB_OPTIONS = { attempts: 1, removeOnComplete: true, removeOnFail: 100 };

/**
 * The schedulers the configuration asks for: one per target and per probe, and `discover-self` when the suite scrapes
 * itself. Throws, naming the target, when one cannot be made (a target URL without an origin).
 */
export function desiredSchedulers(collection: Config['collection']): SchedulerSpec[] {
  const appMs = collection.intervals.app * 1000;
  const specs: SchedulerSpec[] = collection.targets.map((t) => ({
    id: `scrape:${t.name}`,
    everyMs: appMs,
    job: { name: 'scrape', data: { target: { job: t.name, url: t.url, healthUrl: healthUrlOf(t), tags: { ...t.tags }, ...(t.credentialsFile ? { credentialsFile: t.credentialsFile } : {}) } } },
  }));
  if (collection.scrapeSelf) specs.push({ id: 'discover-self', everyMs: appMs, job: { name: 'discover-self', data: {} } });
  for (const probe of collection.probes) specs.push({ id: `probe:${probe.name}`, everyMs: collection.intervals.custom * 1000, job: { name: 'probe', data: { probe } } });
  return specs;
}

/** Where a target's health is checked: its health path on the origin of its URL. */
function healthUrlOf(target: Config['collection']['targets'][number]): string {
  const { origin } = new URL(target.url);
  // A URL of another scheme than http(s) (`htp:`, `file:`) has the opaque origin "null", which no path resolves against.
  if (origin === 'null') throw new Error(`collection target ${target.name}: ${target.url} is not an http or https URL`);
  return new URL(target.healthPath, origin).href;
}

/** States of a job still to run (or running). */
const STILL_TO_RUN = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * Whether the scheduler's job for `next` is still queued: then a `next` far in the past means a backlog (the next
 * job is made when one starts), not a broken chain, and upserting it again put it at the back of the queue on every
 * replica's sync, so the targets late in the configuration were never scraped under load.
 */
async function isQueued(queue: Queue, id: string, next: number | undefined): Promise<boolean> {
  if (next === undefined) return false;
  const job = await queue.getJob(`repeat:${id}:${next}`);
  return job !== undefined && STILL_TO_RUN.has(await job.getState());
}

/**
 * Makes the queue's schedulers exactly `desired`: removes the ones no longer wanted and upserts only the new or
 * changed ones, since an upsert of an unchanged scheduler would move its next run. A scheduler whose next run is
 * far in the past with no job queued for it lost its chain (its job failed after stalling, so no next run was
 * made); upserting it again starts a new chain. Every replica may run this at the same time: the outcome is the same.
 */
export async function syncSchedulers(queue: Queue, desired: readonly SchedulerSpec[], now = Date.now(), removedJobs: RemovedJobs = []): Promise<SchedulerSync> {
  const existing = new Map((await queue.getJobSchedulers(0, -1)).map((s) => [s.key, s]));
  const wanted = new Set(desired.map((s) => s.id));
  const sync: SchedulerSync = { added: [], updated: [], removed: [], restarted: [] };
  for (const [id, scheduler] of existing) {
    if (wanted.has(id)) continue;
    const removedHere = await queue.removeJobScheduler(id);
    sync.removed.push(id);
    if (removedHere && scheduler.name && scheduler.template?.data) removedJobs.push({ name: scheduler.name, data: scheduler.template.data } as CollectorJob);
  }
  for (const spec of desired) {
    const current = existing.get(spec.id);
    let change: keyof SchedulerSync | undefined;
    if (!current) change = 'added';
    else if (current.every !== spec.everyMs || current.name !== spec.job.name || JSON.stringify(current.template?.data) !== JSON.stringify(spec.job.data)) change = 'updated';
    else if ((current.next ?? now) < now - 3 * spec.everyMs && !(await isQueued(queue, spec.id, current.next))) change = 'restarted';
    if (!change) continue;
    await queue.upsertJobScheduler(spec.id, { every: spec.everyMs }, { name: spec.job.name, data: spec.job.data, opts: JOB_OPTIONS });
    sync[change].push(spec.id);
  }
  return sync;
}
