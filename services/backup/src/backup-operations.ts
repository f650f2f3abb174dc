import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import type { BackupSummary } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { BackupVerificationError } from './errors.ts';
import { listBackupIds, readVerifiedManifest, type Manifest } from './format/manifest.ts';
import { Keyring } from './keys/keyring.ts';
import { createSigningKeyFile, readSigningKeyFile, type CreatedSigningKey } from './keys/signing-key.ts';
import { restoreBackup, type RestoreRequest, type RestoreResult } from './restore/restore-backup.ts';
import { verifyBackup, type VerifiedBackup } from './restore/verify-backup.ts';
import { pruneBackups } from './retention/prune-backups.ts';
import { listArchiveFiles, takeBackup, type TableDone } from './take/take-backup.ts';
import type { EngineSource } from './take/engine-snapshot.ts';

/** Where the backup service keeps its files, from the configuration. */
export function backupPaths(config: Readonly<Config>): { backupsDir: string; keyring: string; signingKey: string | undefined; archiveDir: string } {
  return {
    backupsDir: resolve(config.backup.dir ?? join(config.dataDir, 'backups')),
    keyring: resolve(config.backup.keyring ?? join(config.dataDir, 'backup-keyring.json')),
    signingKey: config.backup.signingKey === undefined ? undefined : resolve(config.backup.signingKey),
    archiveDir: resolve(join(config.dataDir, 'archive')),
  };
}

/** The backup service's operations, shared by its scheduled jobs, its NATS calls and the CLI. */
export class BackupOperations {
  readonly paths: ReturnType<typeof backupPaths>;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly pool: pg.Pool,
  ) {
    this.paths = backupPaths(config);
  }

  /** The keyring is read afresh for every operation, so a rotation by another replica is seen at once. */
  keyring(): Promise<Keyring> {
    return Keyring.open(this.paths.keyring, { signingKeyFile: this.paths.signingKey });
  }

  /** Takes a backup, then prunes what retention no longer keeps. */
  async run(kind: 'full' | 'incremental', includeArchives = false, now = new Date(), onTable?: (progress: TableDone) => void): Promise<{ manifest: Manifest; pruned: string[] }> {
    const keyring = await this.keyring();
    const configFiles = [...new Set([...(this.config.configFile ? [this.config.configFile] : []), ...this.config.backup.files])];
    const engine = this.engineSource();
    const manifest = await takeBackup({
      pool: this.pool,
      schema: this.config.database.schema,
      backupsDir: this.paths.backupsDir,
      keyring,
      kind,
      chunkBytes: this.config.backup.chunkBytes,
      configFiles,
      ...(includeArchives ? { archiveDir: this.paths.archiveDir } : {}),
      ...(engine ? { engine } : {}),
      now,
      ...(onTable ? { onTable } : {}),
    });
    const pruned = await this.prune(now);
    return { manifest, pruned };
  }

  /** The engine whose snapshot goes into every backup, when `backup.engineDataDir` is set. */
  private engineSource(): EngineSource | undefined {
    const dataDir = this.config.backup.engineDataDir;
    if (!dataDir) return undefined;
    if (this.config.storage.engine.durability !== 'snapshot') {
      throw new Error('backup.engineDataDir needs a single-node engine (storage.engine.durability snapshot); back a cluster up with its own tools');
    }
    return { engine: new VictoriaMetrics(this.config.storage.engine), dataDir: resolve(dataDir) };
  }

  /** Deletes backups past retention, keeping every base a kept incremental needs; damaged backups are left for a human. */
  async prune(now = new Date()): Promise<string[]> {
    const { manifests } = await this.manifests();
    return pruneBackups(this.paths.backupsDir, manifests, this.config.backup.retention, now);
  }

  /** The manifests of every backup that verifies, and the ids (with reasons) of those that do not. */
  private async manifests(): Promise<{ manifests: Manifest[]; damaged: { id: string; error: string }[] }> {
    const keyring = await this.keyring();
    const manifests: Manifest[] = [];
    const damaged: { id: string; error: string }[] = [];
    for (const id of await listBackupIds(this.paths.backupsDir)) {
      try {
        manifests.push(await readVerifiedManifest(this.paths.backupsDir, id, keyring));
      } catch (err) {
        if (!(err instanceof BackupVerificationError)) throw err;
        damaged.push({ id, error: err.message });
      }
    }
    return { manifests, damaged };
  }

  /** Every complete backup, oldest first; one whose manifest does not verify is listed with `damaged`. */
  async list(): Promise<BackupSummary[]> {
    const { manifests, damaged } = await this.manifests();
    const out: BackupSummary[] = damaged.map((d) => ({ id: d.id, kind: d.id.includes('-incremental-') ? 'incremental' : 'full', createdAt: '', previous: null, keyId: '', tables: 0, rows: 0, bytes: 0, files: 0, damaged: d.error }));
    for (const m of manifests) {
      const chunks = [...m.tables.flatMap((t) => t.chunks), ...m.files.map((f) => f.chunk), ...(m.engine?.files ?? []).flatMap((f) => f.chunks)];
      out.push({
        id: m.id,
        kind: m.kind,
        createdAt: m.createdAt,
        previous: m.previous,
        keyId: m.keyId,
        tables: m.tables.length,
        rows: m.tables.reduce((n, t) => n + t.rows, 0),
        bytes: chunks.reduce((n, c) => n + c.bytes, 0),
        files: m.files.length,
      });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The storage service's archive files, listed beside the backups. */
  async archives(): Promise<{ path: string; bytes: number }[]> {
    const files = await listArchiveFiles(this.paths.archiveDir);
    return Promise.all(files.map(async (path) => ({ path, bytes: (await stat(path)).size })));
  }

  /** Checks a backup completely without restoring it. */
  async verify(id: string): Promise<VerifiedBackup> {
    return verifyBackup(this.paths.backupsDir, id, await this.keyring());
  }

  /**
   * Verifies the chain of `id`, then restores it into `target` (the live database or another one), and with
   * `engineDataDir` its engine snapshot into that directory (missing or empty; for a stopped engine to start on).
   * `prepareTarget` (creating and migrating a drill database) runs only once the chain is verified.
   */
  async restore(id: string, target: pg.Pool, options: Pick<RestoreRequest, 'onProgress' | 'engineDataDir' | 'prepareTarget' | 'ifTargetHasRows'> = {}): Promise<RestoreResult> {
    return restoreBackup({
      backupsDir: this.paths.backupsDir,
      id,
      keyring: await this.keyring(),
      target,
      schema: this.config.database.schema,
      parallelTables: this.config.recovery.parallelRestore ? this.config.core.workers : 1,
      batchSize: this.config.recovery.batchSize,
      ...options,
    });
  }

  /**
   * Writes a new signing key file to `path`, keeping the public keys of every signing key trusted now (the
   * configured signing key file's, or else the keyring's) so every backup that verifies today still does.
   */
  async createSigningKey(path: string, now = new Date()): Promise<CreatedSigningKey> {
    const configured = this.paths.signingKey;
    const retired = configured !== undefined && (await exists(configured)) ? (await readSigningKeyFile(configured)).trusted : await Keyring.signingPublicKeys(this.paths.keyring);
    return createSigningKeyFile(resolve(path), retired, now);
  }

  /** Removes from the keyring the signing keys a configured signing key file has replaced; their ids. */
  async dropKeyringSigningKeys(): Promise<string[]> {
    if (this.paths.signingKey === undefined) throw new Error("backup.signingKey is not set: the keyring's signing key is the one in use");
    return (await this.keyring()).dropIgnoredSigningKeys();
  }

  /** Adds a new data key when the current one is older than the rotation period (or always, when forced). */
  async rotateKey(force = false, now = new Date()): Promise<string | undefined> {
    const keyring = await this.keyring();
    if (!force && !keyring.needsRotation(this.config.encryption.keyRotation, now)) return undefined;
    return (await keyring.rotate(now)).id;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
