import { mkdir, access, constants } from 'node:fs/promises';
import { openDatabase } from '@terminusa/database';
import { runService } from '@terminusa/runtime';
import { BackupOperations } from './backup-operations.ts';
import { serveBackupCalls } from './calls/backup-calls.ts';
import { restoreRunner } from './restore/restore-runner.ts';
import { startBackupQueue } from './schedule/backup-queue.ts';
import { outcomeReporter } from './report-outcome.ts';
import { reportSetup } from './report-setup.ts';

await runService({
  name: 'backup',
  description: 'takes encrypted, signed backups of the suite and restores them',
  async start(ctx) {
    const { config, bus, logger, registry, health, onStop } = ctx;
    const pool = await openDatabase(config, 'backup', ctx);

    const ops = new BackupOperations(config, pool);
    await mkdir(ops.paths.backupsDir, { recursive: true, mode: 0o700 });
    health.add('backup-dir', () => access(ops.paths.backupsDir, constants.W_OK));
    await reportSetup(config, ops, logger);

    const backups = await startBackupQueue(config, ops, logger, outcomeReporter(registry, bus, logger), restoreRunner(config, ops, pool));
    health.add('redis', async () => void (await backups.queue.count()));
    onStop('backup queue', () => backups.stop());

    const calls = serveBackupCalls(bus, backups.queue, ops, logger);
    onStop('backup calls', () => calls.forEach((s) => s.unsubscribe()));
  },
});
