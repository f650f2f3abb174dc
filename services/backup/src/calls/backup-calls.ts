import { CALLS, type Bus } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { Queue } from 'bullmq';
import type { BackupOperations } from '../backup-operations.ts';

/** The queue group every backup replica answers calls in: one replica answers each call. */
const GROUP = 'backup';

/** Serves the gateway's backup calls: run, restore, job status, list and verify. */
export function serveBackupCalls(bus: Bus, queue: Queue, ops: BackupOperations, logger: Logger): ReturnType<Bus['serve']>[] {
  const failed = (err: unknown) => logger.error('backup call failed', { err });
  return [
    bus.serve(
      CALLS.backupRun,
      async (req) => {
        const job = await queue.add('backup', { kind: req.kind, includeArchives: req.includeArchives, requestedBy: req.requestedBy });
        return { jobId: job.id! };
      },
      GROUP,
      failed,
    ),
    bus.serve(
      CALLS.backupRestore,
      async (req) => {
        // Refused now rather than in the job when the chain is damaged: nothing is queued.
        await ops.verify(req.id);
        const job = await queue.add('restore', { id: req.id, ...(req.intoDatabase ? { intoDatabase: req.intoDatabase } : {}), requestedBy: req.requestedBy });
        return { jobId: job.id! };
      },
      GROUP,
      failed,
    ),
    bus.serve(
      CALLS.backupJob,
      async (req) => {
        // The state first, then the job: read the other way round, a job completing in between showed as
        // completed without its result.
        const state = await queue.getJobState(req.jobId);
        const job = await queue.getJob(req.jobId);
        if (!job || state === 'unknown') return { error: `no job ${req.jobId}`, code: 'missing-job' };
        return { jobId: job.id!, name: job.name, state, progress: job.progress, result: job.returnvalue ?? null, ...(job.failedReason ? { failedReason: job.failedReason } : {}) };
      },
      GROUP,
      failed,
    ),
    bus.serve(CALLS.backupList, async () => ({ backups: await ops.list(), archives: await ops.archives() }), GROUP, failed),
    bus.serve(
      CALLS.backupVerify,
      async (req) => {
        const verified = await ops.verify(req.id);
        logger.info('backup verified', { audit: true, backupId: req.id, rows: verified.rows });
        return { ok: true as const, chunks: verified.chunks, rows: verified.rows, bytes: verified.bytes };
      },
      GROUP,
      failed,
    ),
  ];
}
