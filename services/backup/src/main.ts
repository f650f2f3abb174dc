import { mkdir, access, constants } from 'node:fs/promises';
import { CALLS } from '@terminusa/bus';
import { openDatabase } from '@terminusa/database';
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

    const backups = await startBackupQueue(config, ops, logger, outcomeReporter(registry, bus, logger));
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
