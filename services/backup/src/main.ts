import { mkdir, access, constants } from 'node:fs/promises';
import { openDatabase } from '@terminusa/database';
import { runService } from '@terminusa/runtime';
import { BackupOperations } from './backup-operations.ts';
import { serveBackupCalls } from './calls/backup-calls.ts';
import { restoreRunner } from './restore/restore-runner.ts';
import { startBackupQueue } from './schedule/backup-queue.ts';
import { outcomeReporter } from './report-outcome.ts';

await runService({
  name: 'backup',
  description: 'takes encrypted, signed backups of the suite and restores them',
  async start(ctx) {
    const { config, bus, logger, registry, health, onStop } = ctx;
    const pool = await openDatabase(config, 'backup', ctx);

    const ops = new BackupOperations(config, pool);
    await mkdir(ops.paths.backupsDir, { recursive: true, mode: 0o700 });
    health.add('backup-dir', () => access(ops.paths.backupsDir, constants.W_OK));
    const keyring = await ops.keyring();
    logger.info('backup keys ready', { keyring: ops.paths.keyring, signingKeyFile: ops.paths.signingKey ?? null, signingKeyId: keyring.signingKey().id });
    if (keyring.ignoredSigningKeyIds.length > 0) {
      logger.warn("the keyring's own signing keys are ignored: backup.signingKey signs and checks the manifests; remove them with `tmon-backup signing-key drop-from-keyring`", {
        keyring: ops.paths.keyring,
        ignored: keyring.ignoredSigningKeyIds,
      });
    }

    // Said once at start, since every backup then lacks the raw samples and nothing else would tell.
    if (!config.backup.engineDataDir && config.storage.engine.durability === 'snapshot') {
      logger.warn("backups hold no raw samples: set backup.engineDataDir to the engine's -storageDataPath as this service sees it (docs/backup.md)", { engine: config.storage.engine.url });
    }

    const backups = await startBackupQueue(config, ops, logger, outcomeReporter(registry, bus, logger), restoreRunner(config, ops, pool));
    health.add('redis', async () => void (await backups.queue.count()));
    onStop('backup queue', () => backups.stop());

    const calls = serveBackupCalls(bus, backups.queue, ops, logger);
    onStop('backup calls', () => calls.forEach((s) => s.unsubscribe()));
  },
});
