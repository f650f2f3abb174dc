import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Config } from '@terminusa/config';
import { redisOptions, type Logger } from '@terminusa/runtime';

/** The storage service's periodic jobs and what each does. */
export interface StorageJobs {
  /** Ends early (its work kept for the next run) once `signal` is aborted. */
  fold(signal: AbortSignal): Promise<unknown>;
  retention(): Promise<unknown>;
}

/**
 * Folding and retention as BullMQ job schedulers: every replica declares them, and each run goes to one
 * replica, so two replicas never fold or drop the same rows at once.
 */
export async function startStorageJobs(config: Readonly<Config>, jobs: StorageJobs, logger: Logger): Promise<{ stop(): Promise<void> }> {
  const connection: ConnectionOptions = redisOptions(config, 'blocking');
  const prefix = `${config.redis.prefix}bull`;
  const queue = new Queue('storage', { connection, prefix });
  const every = (s: number) => Math.max(1000, Math.round(s * 1000));
  await queue.upsertJobScheduler('fold-rollups', { every: every(config.storage.foldInterval) }, { name: 'fold', opts: { removeOnComplete: 100, removeOnFail: 100 } });
  await queue.upsertJobScheduler('retention', { every: every(config.storage.retentionInterval) }, { name: 'retention', opts: { removeOnComplete: 100, removeOnFail: 100 } });
  const worker = new Worker(
    'storage',
    async (job, _token, signal) => (job.name === 'fold' ? jobs.fold(signal ?? new AbortController().signal) : jobs.retention()),
    { connection, prefix, concurrency: 1, lockDuration: 60_000 },
  );
  worker.on('failed', (job, err) => logger.error('storage job failed', { job: job?.name, err }));
  return {
    async stop() {
      // A fold run over a large fleet takes longer than a shutdown may: it stops between units of work.
      worker.cancelAllJobs('the storage is stopping');
      await worker.close();
      await queue.close();
    },
  };
}
