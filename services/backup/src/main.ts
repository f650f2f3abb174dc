import { mkdir, access, constants } from 'node:fs/promises';
import { CALLS } from '@terminusa/bus';
import { createPool, ensureDatabase, migrate, openDatabase } from '@terminusa/database';
import { runService } from '@terminusa/runtime';
import { BackupOperations } from './backup-operations.ts';
import { startBackupQueue } from './schedule/backup-queue.ts';
import { outcomeReporter } from './report-outcome.ts';

await runService({
  name: 'backup',
  description: 'takes encrypted, signed backups of the suite and restores them',
  async start({ config, bus, logger, registry, health, onStop }) {
    const pool = await openDatabase(config, 'backup', { health, onStop });

    const ops = new BackupOperations(config, pool);
    await mkdir(ops.paths.backupsDir, { recursive: true, mode: 0o700 });
    health.add('backup-dir', () => access(ops.paths.backupsDir, constants.W_OK));
    await ops.keyring();

    // A restore drill goes to another database on the same server; only its name comes from the request.
    const restore = async (data: { id: string; intoDatabase?: string }, progress: (p: object) => Promise<void>) => {
      let target = pool;
      let prepareTarget: (() => Promise<void>) | undefined;
      if (data.intoDatabase) {
        const url = new URL(config.database.url);
        url.pathname = `/${data.intoDatabase}`;
        const drill = (target = createPool({ ...config.database, url: url.toString() }, 'terminusa-backup-restore'));
        // Only once the backup is verified: a refused one creates no database.
        prepareTarget = async () => {
          await ensureDatabase(url.toString());
          await migrate(drill, config.database.schema);
        };
      }
      try {
        const tables: Record<string, { rows: number; bytes: number }> = {};
        const result = await ops.restore(data.id, target, {
          onProgress: (p) => {
            tables[p.table] = { rows: p.rows, bytes: p.bytes };
            if (p.done) void progress({ tables });
          },
          ...(prepareTarget ? { prepareTarget } : {}),
        });
        return { ...result, tables };
      } finally {
        if (target !== pool) await target.end();
      }
    };
    const backups = await startBackupQueue(config, ops, logger, outcomeReporter(registry, bus, logger), restore);
    health.add('redis', async () => void (await backups.queue.count()));
    onStop('backup queue', () => backups.stop());

    // Calls from the gateway; replicas answer in one queue group.
    const calls = [
      bus.serve(
        CALLS.backupRun,
        async (req) => {
          const job = await backups.queue.add('backup', { kind: req.kind, includeArchives: req.includeArchives, requestedBy: req.requestedBy });
          return { jobId: job.id! };
        },
        'backup',
      ),
      bus.serve(
        CALLS.backupRestore,
        async (req) => {
          // Refused now rather than in the job when the chain is damaged: nothing is queued.
          await ops.verify(req.id);
          const job = await backups.queue.add('restore', { id: req.id, ...(req.intoDatabase ? { intoDatabase: req.intoDatabase } : {}), requestedBy: req.requestedBy });
          return { jobId: job.id! };
        },
        'backup',
      ),
      bus.serve(
        CALLS.backupJob,
        async (req) => {
          // The state first, then the job: read the other way round, a job completing in between showed as
          // completed without its result.
          const state = await backups.queue.getJobState(req.jobId);
          const job = await backups.queue.getJob(req.jobId);
          if (!job || state === 'unknown') return { error: `no job ${req.jobId}`, code: 'missing-job' };
          return { jobId: job.id!, name: job.name, state, progress: job.progress, result: job.returnvalue ?? null, ...(job.failedReason ? { failedReason: job.failedReason } : {}) };
        },
        'backup',
      ),
      bus.serve(CALLS.backupList, async () => ({ backups: await ops.list(), archives: await ops.archives() }), 'backup'),
      bus.serve(
        CALLS.backupVerify,
        async (req) => {
          const verified = await ops.verify(req.id);
          logger.info('backup verified', { audit: true, backupId: req.id, rows: verified.rows });
          return { ok: true as const, chunks: verified.chunks, rows: verified.rows, bytes: verified.bytes };
        },
        'backup',
      ),
    ];
    onStop('backup calls', () => calls.forEach((s) => s.unsubscribe()));
  },
});
