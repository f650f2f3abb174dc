import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { chunkAad, ChunkWriter, type ChunkSummary } from '../format/chunk-cipher.ts';
import { listBackupIds, MANIFEST_FILE, readVerifiedManifest, SIGNATURE_FILE, signManifest, type Manifest } from '../format/manifest.ts';
import type { Keyring } from '../keys/keyring.ts';
import { BackupVerificationError } from '../errors.ts';
import { copyOptions, encodingFor, framing, rowScanner, type RowEncoding } from '../format/copy-rows.ts';
import { listTables, type TableInfo } from './table-catalog.ts';
import { loggedKeyJoin } from '../format/logged-keys.ts';
import { backupEngineSnapshot, type EngineSource } from './engine-snapshot.ts';
import { verifyChain } from '../restore/verify-backup.ts';
import { renameDurably, synced } from '@terminusa/runtime';
import { DELETION_LOGGED_TABLES, ROW_DELETIONS_TABLE } from '@terminusa/database';
import { whileBackingUp } from '../backup-restore-lock.ts';

/** What to back up and where. */
export interface BackupRequest {
  pool: pg.Pool;
  schema: string;
  backupsDir: string;
  keyring: Keyring;
  kind: 'full' | 'incremental';
  /** Uncompressed table bytes per chunk. */
  chunkBytes: number;
  /** Configuration files to include. */
  configFiles: readonly string[];
  /** When set, the archive files in this directory are included (full backups only). */
  archiveDir?: string;
  /** When set, the engine's snapshot is included (an incremental: the part directories its base lacks). */
  engine?: EngineSource;
  now?: Date;
  /** Called after each table with its rows and bytes, and how many tables there are in all. */
  onTable?: (progress: TableDone) => void;
}

/** One table written into a backup. */
export interface TableDone {
  table: string;
  rows: number;
  bytes: number;
  totalTables: number;
}

/** The oldest transaction still running in the cluster (64-bit, so it only grows within one cluster), as text. */
async function snapshotXmin(db: pg.Pool | pg.PoolClient): Promise<string> {
  const { rows } = await db.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
  return rows[0]!.xmin;
}

/**
 * Which transaction counter a watermark belongs to: the cluster (its system identifier, new in a restored or
 * re-initialised cluster) and its timeline (new after a point-in-time recovery, which winds transaction ids back).
 */
async function clusterIdentity(db: pg.Pool | pg.PoolClient): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    'SELECT s.system_identifier::text || \'/\' || c.timeline_id::text AS id FROM pg_control_system() s, pg_control_checkpoint() c',
  );
  return rows[0]!.id;
}

/**
 * Takes a backup in one consistent snapshot: every table streamed out with COPY, cut into chunks, each
 * gzip + AES-256-GCM; then the signed manifest. It is written under a temporary name and renamed only when
 * complete, so a crash never leaves a backup that looks whole. An incremental holds the rows written since
 * the previous backup's snapshot; with no previous backup it becomes a full one. With `engine`, the engine's
 * snapshot files go in first, chunked and sealed the same way.
 */
export async function takeBackup(req: BackupRequest): Promise<Manifest> {
  return whileBackingUp(req.pool, () => takeBackupNow(req));
}

async function takeBackupNow(req: BackupRequest): Promise<Manifest> {
  const started = Date.now();
  const now = req.now ?? new Date();
  let previous = req.kind === 'incremental' ? await newestBackup(req.backupsDir, req.keyring) : undefined;
  // A watermark ahead of this database's transactions is another cluster's (the database restored from a backup
  // into a new one, or recovered to a point in time): every row written here since looks older than it, and the
  // incremental came out empty, reported a success and moved the chain's watermark back.
  if (previous && BigInt(await snapshotXmin(req.pool)) < BigInt(previous.watermark)) previous = undefined;
  // After a point-in-time recovery the counter was wound back and has since passed the watermark again: the rows
  // written between the recovery point and the watermark looked older than it and were left out. So the watermark
  // is trusted only from the same cluster and timeline.
  const cluster = await clusterIdentity(req.pool);
  if (previous && previous.cluster !== cluster) previous = undefined;
  const kind = previous ? 'incremental' : 'full';
  // Millisecond timestamps first, so ids sort in the order the backups were taken.
  const id = `${now.toISOString().replace(/[-:.]/g, '')}-${kind}-${randomBytes(3).toString('hex')}`;
  const tmpDir = join(req.backupsDir, `.tmp-${id}`);
  await mkdir(tmpDir, { recursive: true, mode: 0o700 });
  const key = req.keyring.current();
  const newChunk = (file: string) => new ChunkWriter(join(tmpDir, file), file, key.key, chunkAad(id, file, key.id));

  let client: pg.PoolClient | undefined;
  let inTransaction = false;
  try {
    client = await req.pool.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    inTransaction = true;
    const watermark = await snapshotXmin(client);
    // PostgreSQL's snapshot first (its first query took it), then the engine's: not one atomic snapshot, but the
    // engine then holds every sample the restored rollups count (the minutes it holds past them the next rollup run
    // computes); taken the other way round, a whole engine copy apart, the rollups counted samples the restored
    // engine lacked, and a late mark recomputed their minutes smaller (docs/backup.md, Limits).
    const engine = req.engine ? await backupEngineSnapshot(req.engine, new Set(previous?.engine?.parts ?? []), newChunk, req.chunkBytes) : undefined;
    const tables: Manifest['tables'] = [];
    const catalog = await listTables(client, req.schema);
    if (catalog.length === 0) throw new Error(`schema ${req.schema} has no tables: is this the suite's database and schema?`);
    for (const info of catalog) {
      const encoding = encodingFor(info.types);
      const chunks = await copyTable(client, req.schema, info, encoding, previous?.watermark, newChunk, req.chunkBytes);
      const rows = chunks.reduce((n, c) => n + c.rows, 0);
      tables.push({ table: info.table, columns: info.columns, primaryKey: info.primaryKey, encoding, rows, chunks });
      req.onTable?.({ table: info.table, rows, bytes: chunks.reduce((n, c) => n + c.rawBytes, 0), totalTables: catalog.length });
    }
    await client.query('COMMIT');
    inTransaction = false;

    const files: Manifest['files'] = [];
    const addFile = async (kind: 'config' | 'archive', path: string, index: number) => {
      const file = `${kind}-${String(index).padStart(4, '0')}-${basename(path)}.chunk`;
      const writer = newChunk(file);
      await writer.write(await readFile(path), 1);
      files.push({ kind, path, chunk: await writer.close() });
    };
    for (const [i, path] of req.configFiles.entries()) await addFile('config', path, i);
    if (req.archiveDir && kind === 'full') for (const [i, path] of (await listArchiveFiles(req.archiveDir)).entries()) await addFile('archive', path, i);

    const manifest: Manifest = {
      format: 'terminusa-backup/1',
      id,
      kind,
      createdAt: now.toISOString(),
      previous: previous?.id ?? null,
      watermark,
      cluster,
      schema: req.schema,
      keyId: key.id,
      signingKeyId: req.keyring.signingKey().id,
      tables,
      ...(engine ? { engine } : {}),
      files,
      durationMs: Date.now() - started,
    };
    const { json, signature } = signManifest(manifest, req.keyring);
    await writeFile(join(tmpDir, MANIFEST_FILE), json, { mode: 0o600 });
    await writeFile(join(tmpDir, SIGNATURE_FILE), signature, { mode: 0o600 });
    // Everything on disk before the backup is listed: older backups are pruned right after it, and after a power
    // loss the pruning would survive while unsynced chunks came back empty. Chunks synced themselves on close.
    await Promise.all([synced(join(tmpDir, MANIFEST_FILE)), synced(join(tmpDir, SIGNATURE_FILE))]);
    await renameDurably(tmpDir, join(req.backupsDir, id));
    return manifest;
  } catch (err) {
    // Its connection closed, not rolled back: a COPY cut off mid-stream (a chunk's write failed, the disk full) leaves
    // the connection waiting on it for good, and a ROLLBACK queued behind it held the job, the backup lock and the
    // snapshot for ever. Closing it ends the COPY and the transaction.
    if (inTransaction) {
      client?.release(err instanceof Error ? err : new Error(String(err)));
      client = undefined;
    }
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  } finally {
    client?.release();
  }
}

/**
 * The base of the next incremental: the newest backup whose manifest verifies (a damaged one is skipped), when its
 * whole chain's chunks are there and sealed as their manifests say; otherwise none, and a full backup is taken. A
 * chunk gone or rotten in the chain made every incremental built on it unrestorable until the next full.
 */
async function newestBackup(backupsDir: string, keyring: Keyring): Promise<Manifest | undefined> {
  const ids = await listBackupIds(backupsDir);
  for (const id of ids.reverse()) {
    let manifest: Manifest;
    try {
      manifest = await readVerifiedManifest(backupsDir, id, keyring);
    } catch (err) {
      if (!(err instanceof BackupVerificationError)) throw err;
      continue;
    }
    try {
      await verifyChain(backupsDir, id, keyring, 'seal');
      return manifest;
    } catch (err) {
      if (!(err instanceof BackupVerificationError)) throw err;
      return undefined;
    }
  }
  return undefined;
}

/**
 * Streams one table out with COPY in `encoding`, into as many chunks as `chunkBytes` needs, each cut at a row
 * boundary and framed as a complete COPY stream of its own. With a watermark, only rows written by
 * transactions from that snapshot on are copied (`age(xmin)` copes with transaction-id wraparound; a row may
 * appear in two consecutive backups, which restore tolerates).
 */
async function copyTable(
  client: pg.PoolClient,
  schema: string,
  info: TableInfo,
  encoding: RowEncoding,
  watermark: string | undefined,
  newChunk: (file: string) => ChunkWriter,
  chunkBytes: number,
): Promise<ChunkSummary[]> {
  const table = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(info.table)}`;
  const cols = info.columns.map((c) => `t.${pg.escapeIdentifier(c)}`).join(', ');
  // The watermark is a number PostgreSQL gave us, checked by the manifest schema, so inlining it is safe.
  // From 0: a row more than 2^31 transactions old has a negative age (its xmin kept when frozen), and went into
  // every incremental.
  const since = (alias: string) => `age(${alias}.xmin) BETWEEN 0 AND age((${BigInt(watermark ?? 0) % 4294967296n})::text::xid)`;
  const source = watermark ? `(SELECT ${cols} FROM ${table} t WHERE ${since('t')}${loggedKeys(schema, info, since)})` : `(SELECT ${cols} FROM ${table} t)`;
  const stream = client.query(copyStreams.to(`COPY ${source} TO STDOUT${copyOptions(encoding)}`));
  const { header, trailer } = framing(encoding);
  const scanner = rowScanner(encoding);
  const chunks: ChunkSummary[] = [];
  let writer: ChunkWriter | undefined;
  const open = async () => {
    const chunk = newChunk(`${info.table}-${String(chunks.length).padStart(4, '0')}.chunk`);
    if (header.length) await chunk.write(header, 0);
    return chunk;
  };
  const close = async (chunk: ChunkWriter) => {
    if (trailer.length) await chunk.write(trailer, 0);
    chunks.push(await chunk.close());
  };
  for await (const part of stream as AsyncIterable<Buffer>) {
    const { bytes, ends } = scanner.push(part);
    if (ends.length === 0) continue;
    writer ??= await open();
    if (writer.size + bytes.length > chunkBytes && writer.size > header.length) {
      await close(writer);
      writer = await open();
    }
    await writer.write(bytes, ends.length);
  }
  scanner.end();
  await close(writer ?? (await open()));
  return chunks;
}

/**
 * For a table whose deletes are logged: also every row whose key a log row of this incremental names, however old.
 * A restore replays the log's deletes before it lays the rows over the target, so a key deleted and made again must
 * come with its row: the row is older than the watermark when the transaction that made it again took its id before
 * the deleting one, or when a restore into this database rewrote the log row since.
 */
function loggedKeys(schema: string, info: TableInfo, since: (alias: string) => string): string {
  if (!DELETION_LOGGED_TABLES.includes(info.table) || info.primaryKey.length === 0) return '';
  const log = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(ROW_DELETIONS_TABLE)}`;
  const join = loggedKeyJoin(`${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(info.table)}`, info.primaryKey);
  return ` OR EXISTS (SELECT 1 FROM ${log} d, ${join.lateral} WHERE d.table_name = ${pg.escapeLiteral(info.table)} AND ${since('d')} AND ${join.matches})`;
}

/** The archive's files a backup carries, sorted; none when the archive does not exist. */
export async function listArchiveFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    // Not the files a retention run or a legacy move is still writing (`*.tmp`, renamed into place when whole): a
    // half-written one was sealed as archive content, or gone by the time it was read and the whole backup failed.
    return entries.filter((e) => e.isFile() && !e.name.endsWith('.tmp')).map((e) => join(e.parentPath, e.name)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
