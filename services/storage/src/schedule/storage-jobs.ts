import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Config } from '@terminusa/config';
import { redisOptions, type Logger } from '@terminusa/runtime';

/** The storage service's periodic jobs and what each does. */
export interface StorageJobs {
  /** Ends early (its work kept for the next run) once `signal` is aborted. */
  fold(signal: AbortSignal): Promise<unknown>;
  /** Ends early too: what it had not archived yet, the next run archives. */
  retention(signal: AbortSignal): Promise<unknown>;
}

/**
 * The BullMQ queue of each job: one queue each, so a fold never waits behind an archive run (or the reverse).
 * The storage's Redis ACL user (`REDIS_NEEDS` in deploy-manifests) names the same queues.
 */
const STORAGE_QUEUES = { fold: 'storage-fold', retention: 'storage-retention' } as const;

/**
 * Folding and retention as BullMQ job schedulers: every replica declares them, and each run goes to one
 * replica, so two replicas never fold or drop the same rows at once. Each has its own queue and worker
 * (concurrency 1): archiving a large fleet's hour takes minutes, and the rollups must not fall that far behind.
 */
export async function startStorageJobs(config: Readonly<Config>, jobs: StorageJobs, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const connection: ConnectionOptions = redisOptions(config, 'blocking');
  const prefix = `${config.redis.prefix}bull`;
  const every = (s: number) => Math.max(1000, Math.round(s * 1000));
  const schedule = async (queueName: string, scheduler: string, seconds: number, run: (signal: AbortSignal) => Promise<unknown>) => {
    const queue = new Queue(queueName, { connection, prefix });
    await queue.upsertJobScheduler(scheduler, { every: every(seconds) }, { name: scheduler, opts: { removeOnComplete: 100, removeOnFail: 100 } });
    const worker = new Worker(
      queueName,
      async (_job, _token, given) => {
        const signal = given ?? new AbortController().signal;
        try {
          return await run(signal);
        } catch (err) {
          // Stopped by a shutdown: not a failure, the next run carries on.
          if (signal.aborted) return { stopped: true };
          throw err;
        }
      },
      { connection, prefix, concurrency: 1, lockDuration: 60_000 },
    );
    worker.on('failed', (job, err) => logger.error('storage job failed', { job: job?.name, err }));
    return { queue, worker };
  };
  const runs = [
    await schedule(STORAGE_QUEUES.fold, 'fold-rollups', config.storage.foldInterval, (signal) => jobs.fold(signal)),
    await schedule(STORAGE_QUEUES.retention, 'retention', config.storage.retentionInterval, (signal) => jobs.retention(signal)),
  ];
  return {
    async stop() {
      // A fold or an archive run over a large fleet takes longer than a shutdown may: each stops where it is.
      for (const { worker } of runs) worker.cancelAllJobs('the storage is stopping');
      await Promise.all(runs.map(({ worker }) => worker.close()));
      await Promise.all(runs.map(({ queue }) => queue.close()));
    },
  };
}
