import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Config } from '@terminusa/config';
import { redisOptions, type Logger } from '@terminusa/runtime';
import type { BackupOperations } from '../backup-operations.ts';

/** Jobs of the backup queue. */
export type BackupJob =
  | { name: 'backup'; data: { kind: 'full' | 'incremental'; includeArchives: boolean; requestedBy?: string } }
  | { name: 'rotate-key'; data: Record<string, never> }
  | { name: 'restore'; data: { id: string; intoDatabase?: string; requestedBy?: string } };

/** Runs a restore job; reports progress through the job. */
export type RestoreRunner = (data: { id: string; intoDatabase?: string }, progress: (p: object) => Promise<void>) => Promise<object>;

/** Outcome of a backup job, for metrics and logs. */
export interface BackupOutcome {
  kind: 'full' | 'incremental';
  ok: boolean;
  durationSeconds: number;
  bytes?: number;
  rows?: number;
  id?: string;
  error?: string;
}

/** Daily check of the data key's age; the key itself rotates every `encryption.keyRotation` days. */
const KEY_ROTATION_CHECK = '30 0 * * *';

/**
 * The backup schedules as BullMQ job schedulers on Redis: every replica declares the same schedulers
 * (idempotent), and BullMQ hands each run to exactly one worker, so a backup never runs twice.
 */
export async function startBackupQueue(
  config: Readonly<Config>,
  ops: BackupOperations,
  logger: Logger,
  onOutcome: (outcome: BackupOutcome) => void,
  restore: RestoreRunner,
): Promise<{ queue: Queue; stop(): Promise<void> }> {
  const connection: ConnectionOptions = redisOptions(config, 'blocking');
  const prefix = `${config.redis.prefix}bull`;
  const queue = new Queue('backup', { connection, prefix });
  await queue.upsertJobScheduler('full-backup', { pattern: config.backup.schedule.full }, { name: 'backup', data: { kind: 'full', includeArchives: false } });
  await queue.upsertJobScheduler('incremental-backup', { pattern: config.backup.schedule.incremental }, { name: 'backup', data: { kind: 'incremental', includeArchives: false } });
  await queue.upsertJobScheduler('key-rotation', { pattern: KEY_ROTATION_CHECK }, { name: 'rotate-key', data: {} });

  const worker = new Worker(
    'backup',
    async (job: Job) => {
      const { name, data } = job as unknown as BackupJob;
      if (name === 'restore') {
        const started = performance.now();
        const result = await restore(data, (p) => job.updateProgress(p));
        logger.info('restore done', { audit: true, backupId: data.id, into: data.intoDatabase ?? 'live', requestedBy: data.requestedBy, seconds: (performance.now() - started) / 1000, ...result });
        return result;
      }
      if (name === 'rotate-key') {
        const rotated = await ops.rotateKey();
        if (rotated) logger.info('backup data key rotated', { keyId: rotated });
        return { rotated: rotated ?? null };
      }
      const started = performance.now();
      try {
        // Progress in the shape restores report it: the tables done so far, and how many there are.
        const tables: Record<string, { rows: number; bytes: number }> = {};
        const { manifest, pruned } = await ops.run(data.kind, data.includeArchives, new Date(), (p) => {
          tables[p.table] = { rows: p.rows, bytes: p.bytes };
          job.updateProgress({ tables, totalTables: p.totalTables }).catch((err: unknown) => logger.warn('backup progress not recorded', { jobId: job.id, err }));
        });
        const chunks = [...manifest.tables.flatMap((t) => t.chunks), ...manifest.files.map((f) => f.chunk)];
        const outcome: BackupOutcome = {
          kind: manifest.kind,
          ok: true,
          durationSeconds: (performance.now() - started) / 1000,
          bytes: chunks.reduce((n, c) => n + c.bytes, 0),
          rows: manifest.tables.reduce((n, t) => n + t.rows, 0),
          id: manifest.id,
        };
        logger.info('backup taken', { audit: true, jobId: job.id, backupId: manifest.id, kind: manifest.kind, requestedBy: data.requestedBy ?? 'schedule', rows: outcome.rows, bytes: outcome.bytes, durationSeconds: outcome.durationSeconds, pruned });
        onOutcome(outcome);
        return { id: manifest.id, pruned };
      } catch (err) {
        const outcome: BackupOutcome = { kind: data.kind, ok: false, durationSeconds: (performance.now() - started) / 1000, error: (err as Error).message };
        logger.error('backup failed', { audit: true, kind: data.kind, requestedBy: data.requestedBy ?? 'schedule', err });
        onOutcome(outcome);
        throw err;
      }
    },
    // One backup at a time per replica: backups are I/O heavy and an incremental must see the previous one.
    { connection, prefix, concurrency: 1 },
  );
  worker.on('error', (err) => logger.error('backup worker error', { err }));

  return {
    queue,
    async stop() {
      // Close the worker first: it finishes the backup in hand before the queue's connection goes away.
      await worker.close();
      await queue.close();
    },
  };
}
