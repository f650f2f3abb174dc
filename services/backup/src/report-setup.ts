import type { Config } from '@terminusa/config';
import type { Logger } from '@terminusa/runtime';
import type { BackupOperations } from './backup-operations.ts';

/** What is said where backups will lack the raw samples: the service at start, `tmon-backup run` after each. */
export const NO_ENGINE_DATA = "backups hold no raw samples: set backup.engineDataDir to the engine's -storageDataPath as this service sees it (docs/backup.md)";

/** Whether backups taken with `config` lack the raw samples: a single-node engine whose data directory is not set. */
export function lacksEngineData(config: Readonly<Config>): boolean {
  return !config.backup.engineDataDir && config.storage.engine.durability === 'snapshot';
}

/**
 * Says at start which keys sign and encrypt, and warns of the two set-ups that leave every backup short without
 * failing one: signing keys in the keyring that are ignored, and an engine whose data this service cannot read.
 */
export async function reportSetup(config: Readonly<Config>, ops: BackupOperations, logger: Logger): Promise<void> {
  const keyring = await ops.keyring();
  logger.info('backup keys ready', { keyring: ops.paths.keyring, signingKeyFile: ops.paths.signingKey ?? null, signingKeyId: keyring.signingKey().id });
  if (keyring.ignoredSigningKeyIds.length > 0) {
    logger.warn("the keyring's own signing keys are ignored: backup.signingKey signs and checks the manifests; remove them with `tmon-backup signing-key drop-from-keyring`", {
      keyring: ops.paths.keyring,
      ignored: keyring.ignoredSigningKeyIds,
    });
  }
  // Said once at start, since every backup then lacks the raw samples and nothing else would tell.
  if (lacksEngineData(config)) logger.warn(NO_ENGINE_DATA, { engine: config.storage.engine.url });
}
