import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { eachInParallel } from './each-in-parallel.ts';
import type { Manifest } from '../format/manifest.ts';
import type { Keyring } from '../keys/keyring.ts';
import { RestoreIncompleteError } from '../errors.ts';
import { copyOptions, framing, rowScanner, type RowEncoding } from '../format/copy-rows.ts';
import { verifyChain, type VerifiedBackup } from './verify-backup.ts';
import { restoreEngineData, type EngineRestoreResult } from './restore-engine.ts';
import { replayDeletions } from './replay-deletions.ts';
import { sealedRows } from './sealed-chunk.ts';
import { whileRestoring } from '../backup-restore-lock.ts';

/** Progress of one table during a restore. */
export interface RestoreProgress {
  backupId: string;
  table: string;
  rows: number;
  bytes: number;
  done: boolean;
}

/** Where and how to restore. */
export interface RestoreRequest {
  backupsDir: string;
  id: string;
  keyring: Keyring;
  /** The database to restore into; its tables must exist (the suite's migrations create them). */
  target: pg.Pool;
  schema: string;
  /** Tables restored at the same time. */
  parallelTables: number;
  /** Rows per upsert batch (RECOVERY_CONFIG batch_size). */
  batchSize: number;
  /** When set, the backup's engine snapshot is written into this directory (missing or empty) before the tables are restored. */
  engineDataDir?: string;
  onProgress?: (progress: RestoreProgress) => void;
  /** Makes the target ready (creates and migrates a drill database); run only after the chain is verified. */
  prepareTarget?: () => Promise<void>;
  /** What to do with a target that holds rows already (TargetRows; by default merge, as into the live database). */
  ifTargetHasRows?: TargetRows;
}

/**
 * What a restore does with a target that holds rows already: `merge` lays the backup over them (the live database),
 * `refuse` stops before writing anything (a drill: rows merged into a database that held other data would pass for the
 * backup's), `replace` empties the target's tables first.
 */
export type TargetRows = 'merge' | 'refuse' | 'replace';

/** A restore refused because its target holds rows and was to be empty; nothing was written. */
export class TargetNotEmptyError extends Error {
  override readonly name = 'TargetNotEmptyError';
  constructor(readonly tables: readonly string[]) {
    super(
      `the target database holds rows in table ${tables[0]}${tables.length > 1 ? ` (and ${tables.length - 1} other table(s))` : ''}: ` +
        'a restore drill goes into an empty database; drop it or name another, or replace its rows (tmon-backup restore --into <url> --replace)',
    );
  }
}

/** Totals of a finished restore. */
export interface RestoreResult {
  backups: string[];
  rows: number;
  bytes: number;
  /** Rows deleted as the incrementals' deletion logs say (replay-deletions.ts). */
  deleted: number;
  /** The engine files written, when an engine data directory was given. */
  engine?: EngineRestoreResult;
}

/**
 * Restores a backup and the chain it builds on. The whole chain is verified first (signature, checksums,
 * GCM tags, row counts), so a damaged backup is refused before the database is touched. Then each backup in
 * order: an incremental's logged deletes first (replay-deletions.ts), then its tables in parallel: an empty table
 * is filled with one COPY; otherwise rows go in batches through a temporary table and `INSERT … ON CONFLICT DO
 * UPDATE`, so a restore run twice gives the same database.
 */
export async function restoreBackup(req: RestoreRequest): Promise<RestoreResult> {
  // The seal (signature, sha256, GCM tag of every chunk) is checked before the database is touched; row
  // counts are checked as each chunk loads, which saves decompressing everything twice.
  const chain = await verifyChain(req.backupsDir, req.id, req.keyring, 'seal');
  // The engine files first: a directory that is not empty is refused before the database is touched.
  const engine = req.engineDataDir === undefined ? undefined : await restoreEngineData(req.backupsDir, chain.map((c) => c.manifest), req.keyring, req.engineDataDir);
  try {
    await req.prepareTarget?.();
    const restored = await whileRestoring(req.target, () => restoreRows(req, chain, req.ifTargetHasRows ?? 'merge'));
    return { ...restored, ...(engine ? { engine: { dir: engine.dir, files: engine.files, bytes: engine.bytes } } : {}) };
  } catch (err) {
    // Its engine files go too: they were restored for this database, and a directory left full refused the restore's next run.
    await engine?.remove();
    throw err;
  }
}

async function restoreRows(req: RestoreRequest, chain: VerifiedBackup[], ifRows: TargetRows): Promise<Omit<RestoreResult, 'engine'>> {
  let rows = 0;
  let bytes = 0;
  let deleted = 0;
  const written: string[] = [];
  let committed = false;
  try {
    committed = await claimTarget(req, ifRows);
    const kept = await readNeverRolledBack(req.target, req.schema);
    for (const { manifest } of chain) {
      if (manifest.kind === 'incremental') {
        const n = await replayDeletions(req, manifest);
        committed ||= n > 0;
        deleted += n;
        if (n > 0) written.push(`${manifest.id} deletions`);
      }
      await eachInParallel(manifest.tables, req.parallelTables, async (table) => {
        const r = await restoreTable(req, manifest, table, kept, () => (committed = true));
        rows += r.rows;
        bytes += r.bytes;
        written.push(`${manifest.id} ${table.table}`);
      });
    }
    await resetSequences(req.target, req.schema, chain[chain.length - 1]!.manifest);
  } catch (err) {
    // Not "refused" once rows were committed: the operator must know the database is not as it was.
    throw committed ? new RestoreIncompleteError(req.id, written, err) : err;
  }
  return { backups: chain.map((c) => c.manifest.id), rows, bytes, deleted };
}

/**
 * Tables the migrations themselves fill (a freshly migrated drill database has rows in them): not a sign of other data,
 * and not emptied by a replace (schema_migrations records the target's own schema; the backup's watermark rows
 * overwrite the others by key).
 */
const FILLED_BY_MIGRATIONS = new Set(['schema_migrations', 'rollup_watermarks']);

/**
 * Checks, before a row is written, that a target to be empty is: refuses one that holds rows, naming its tables, or
 * empties them for a replace. Returns whether it wrote (emptied tables).
 */
async function claimTarget(req: RestoreRequest, ifRows: TargetRows): Promise<boolean> {
  if (ifRows === 'merge') return false;
  const { rows: tables } = await req.target.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`,
    [req.schema],
  );
  const names = tables.map((t) => t.name).filter((t) => !FILLED_BY_MIGRATIONS.has(t));
  const q = (table: string) => `${pg.escapeIdentifier(req.schema)}.${pg.escapeIdentifier(table)}`;
  const holding: string[] = [];
  for (const table of names) if ((await req.target.query(`SELECT 1 FROM ${q(table)} LIMIT 1`)).rows.length > 0) holding.push(q(table));
  if (holding.length === 0) return false;
  if (ifRows === 'refuse') throw new TargetNotEmptyError(holding);
  // One statement for all: tables that reference each other may only be emptied together.
  await req.target.query(`TRUNCATE ${names.map(q).join(', ')}`);
  return true;
}

async function restoreTable(req: RestoreRequest, manifest: Manifest, table: Manifest['tables'][number], kept: NeverRolledBack, onCommit: () => void): Promise<{ rows: number; bytes: number }> {
  const key = req.keyring.dataKey(manifest.keyId);
  const name = `${pg.escapeIdentifier(req.schema)}.${pg.escapeIdentifier(table.table)}`;
  const cols = table.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
  const progress: RestoreProgress = { backupId: manifest.id, table: table.table, rows: 0, bytes: 0, done: false };
  const client = await req.target.connect();
  try {
    const { rows: existing } = await client.query(`SELECT 1 FROM ${name} LIMIT 1`);
    const empty = existing.length === 0;
    const upsert = empty ? undefined : upsertSql(name, table, kept);
    if (upsert) await client.query(`CREATE TEMP TABLE restore_batch (LIKE ${name}) ON COMMIT DELETE ROWS`);
    const format = copyOptions(table.encoding);
    // An empty table is filled in one transaction with its indexes dropped and rebuilt after the load, as
    // pg_restore does: one sorted index build is far cheaper than an index update per row. A crash rolls
    // the whole transaction back, indexes included.
    const rebuild = upsert ? undefined : await dropIndexes(client, req.schema, table.table);
    // Into an empty partitioned table whose only partition is the default one, rows go straight there:
    // routing each row through the parent costs more than the copy itself.
    const copyTarget = upsert ? name : await soleDefaultPartition(client, req.schema, table.table) ?? name;
    for (const chunk of table.chunks) {
      const content = await sealedRows(req.backupsDir, manifest, key, table, chunk);
      const plain = Readable.from([content]);
      const count = (n: number, b: number) => {
        progress.rows += n;
        progress.bytes += b;
        req.onProgress?.({ ...progress });
      };
      if (upsert) await upsertInBatches(client, plain, table.encoding, `COPY restore_batch (${cols}) FROM STDIN${format}`, upsert, req.batchSize, count, onCommit);
      else await pipeline(plain, countingTap(table.encoding, count), client.query(copyStreams.from(`COPY ${copyTarget} (${cols}) FROM STDIN${format}`)));
    }
    if (upsert) await client.query('DROP TABLE restore_batch');
    if (rebuild) {
      for (const statement of rebuild) await client.query(statement);
      await client.query('COMMIT');
      onCommit();
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    // Discarded, not pooled: its session still holds restore_batch, which a retry on it could not create again.
    client.release(true);
    throw err;
  }
  client.release();
  req.onProgress?.({ ...progress, done: true });
  return { rows: progress.rows, bytes: progress.bytes };
}

/** The qualified name of a partitioned table's default partition when it is the table's only partition and this role may write it directly. */
async function soleDefaultPartition(client: pg.PoolClient, schema: string, table: string): Promise<string | undefined> {
  const { rows } = await client.query<{ name: string; is_default: boolean }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AND has_table_privilege(c.oid, 'INSERT') AS is_default
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass`,
    [`${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`],
  );
  return rows.length === 1 && rows[0]!.is_default ? `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(rows[0]!.name)}` : undefined;
}

/**
 * Starts the load transaction and drops the table's indexes and primary/unique constraints; returns the
 * statements that recreate them. Tables that other tables reference, and tables this role does not own, keep them.
 */
async function dropIndexes(client: pg.PoolClient, schema: string, table: string): Promise<string[]> {
  await client.query('BEGIN');
  // A restore can simply be run again after a crash, so its commit need not wait for the WAL flush; the
  // index rebuild sorts in memory when it may use more of it.
  await client.query("SET LOCAL synchronous_commit = off; SET LOCAL maintenance_work_mem = '256MB'");
  const name = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
  const { rows: referenced } = await client.query('SELECT 1 FROM pg_constraint WHERE confrelid = $1::regclass LIMIT 1', [name]);
  if (referenced.length > 0) return [];
  // Only a table's owner may drop its indexes: the backup's own role (deploy/postgres/roles.sql) loads through them.
  const { rows: owned } = await client.query<{ owned: boolean }>("SELECT pg_has_role(relowner, 'USAGE') AS owned FROM pg_class WHERE oid = $1::regclass", [name]);
  if (!owned[0]!.owned) return [];
  const { rows: constraints } = await client.query<{ name: string; def: string }>(
    "SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('p', 'u')",
    [name],
  );
  const { rows: indexes } = await client.query<{ name: string; def: string }>(
    `SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)`,
    [name],
  );
  for (const c of constraints) await client.query(`ALTER TABLE ${name} DROP CONSTRAINT ${pg.escapeIdentifier(c.name)}`);
  for (const i of indexes) await client.query(`DROP INDEX ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(i.name)}`);
  // pg_get_indexdef writes "ON ONLY" for an index of a partitioned table; rebuilt without it, it covers the partitions too.
  return [...constraints.map((c) => `ALTER TABLE ${name} ADD CONSTRAINT ${pg.escapeIdentifier(c.name)} ${c.def}`), ...indexes.map((i) => i.def.replace(' ON ONLY ', ' ON '))];
}

/**
 * What a restore never rolls back: an API key revoked or a user disabled in the target before it began stays so
 * (the row as of the backup would silently let a revoked credential in again), and a user the target has keeps its
 * password and role (the backup's brought back a password its user had changed, and re-promoted a demoted admin,
 * whose live tokens then held the old role again). Read once before the first row is
 * written and kept in every row written: taken from the rows as they stood when each backup of a chain was laid
 * over them, it held what the restore itself had just loaded, and a user disabled in the full and enabled again
 * before the incremental came back disabled.
 */
interface NeverRolledBack {
  disabledUsers: string[];
  revokedKeys: { id: string; revoked_at: Date }[];
  users: { id: string; password_hash: string; role: string }[];
}

async function readNeverRolledBack(target: pg.Pool, schema: string): Promise<NeverRolledBack> {
  const q = (table: string) => `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
  const [users, keys] = await Promise.all([
    target.query<{ id: string; password_hash: string; role: string; disabled: boolean }>(`SELECT id, password_hash, role, disabled FROM ${q('users')}`),
    target.query<{ id: string; revoked_at: Date }>(`SELECT id, revoked_at FROM ${q('api_keys')} WHERE revoked_at IS NOT NULL`),
  ]);
  return { disabledUsers: users.rows.filter((r) => r.disabled).map((r) => r.id), revokedKeys: keys.rows, users: users.rows.map(({ id, password_hash, role }) => ({ id, password_hash, role })) };
}

/** A statement and the values of its parameters. */
interface Statement {
  text: string;
  values: unknown[];
}

/**
 * The statement that merges a batch into a table that has rows already: by primary key (later values win), or
 * for a table without one, by skipping rows already present with all the same values. What a restore never rolls
 * back goes in as parameters, not in the text: a failing statement is logged whole by PostgreSQL, password hashes
 * with it.
 */
function upsertSql(name: string, table: Manifest['tables'][number], kept: NeverRolledBack): Statement {
  const cols = table.columns.map((c) => pg.escapeIdentifier(c));
  if (table.primaryKey.length === 0) {
    const same = cols.map((c) => `t.${c} IS NOT DISTINCT FROM b.${c}`).join(' AND ');
    return { text: `INSERT INTO ${name} (${cols.join(', ')}) SELECT ${cols.map((c) => `b.${c}`).join(', ')} FROM restore_batch b WHERE NOT EXISTS (SELECT 1 FROM ${name} t WHERE ${same})`, values: [] };
  }
  const values: unknown[] = [];
  const list = (items: readonly string[], type = 'text') => `$${values.push(items)}::${type}[]`;
  const sticky: Record<string, string> = {};
  if (table.table === 'users' && kept.disabledUsers.length) sticky.disabled = `(EXCLUDED.disabled OR ${name}.id::text = ANY(${list(kept.disabledUsers)}))`;
  if (table.table === 'users' && kept.users.length) {
    const ids = list(kept.users.map((u) => u.id));
    const at = `array_position(${ids}, ${name}.id::text)`;
    for (const column of ['password_hash', 'role'] as const) {
      sticky[column] = `COALESCE((${list(kept.users.map((u) => u[column]))})[${at}], EXCLUDED.${column})`;
    }
  }
  if (table.table === 'api_keys' && kept.revokedKeys.length) {
    const ids = list(kept.revokedKeys.map((k) => k.id));
    const ats = list(kept.revokedKeys.map((k) => k.revoked_at.toISOString()), 'timestamptz');
    // LEAST passes over NULL: the earlier of the two revocations, or the one there is.
    sticky.revoked_at = `LEAST(EXCLUDED.revoked_at, (${ats})[array_position(${ids}, ${name}.id)])`;
  }
  const rest = table.columns
    .filter((c) => !table.primaryKey.includes(c))
    .map((c) => {
      const col = pg.escapeIdentifier(c);
      return `${col} = ${sticky[c] ?? `EXCLUDED.${col}`}`;
    });
  const onConflict = rest.length ? `DO UPDATE SET ${rest.join(', ')}` : 'DO NOTHING';
  return { text: `INSERT INTO ${name} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM restore_batch ON CONFLICT (${table.primaryKey.map((c) => pg.escapeIdentifier(c)).join(', ')}) ${onConflict}`, values };
}

/** Splits a chunk into batches of whole rows and upserts each batch, as a COPY stream of its own, in its own transaction. */
async function upsertInBatches(
  client: pg.PoolClient,
  plain: NodeJS.ReadableStream,
  encoding: RowEncoding,
  copyBatch: string,
  upsert: Statement,
  batchSize: number,
  count: (rows: number, bytes: number) => void,
  onCommit: () => void,
): Promise<void> {
  const { header, trailer } = framing(encoding);
  const scanner = rowScanner(encoding);
  let pending: Buffer[] = [];
  let pendingRows = 0;
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingRows === 0) return;
    await client.query('BEGIN');
    await pipeline(Readable.from([header, ...pending, trailer]), client.query(copyStreams.from(copyBatch)));
    await client.query(upsert.text, upsert.values);
    await client.query('COMMIT');
    onCommit();
    count(pendingRows, pendingBytes);
    pending = [];
    pendingRows = 0;
    pendingBytes = 0;
  };
  for await (const part of plain as AsyncIterable<Buffer>) {
    const { bytes, ends } = scanner.push(part);
    let start = 0;
    for (const end of ends) {
      pendingRows++;
      if (pendingRows >= batchSize) {
        pending.push(bytes.subarray(start, end));
        pendingBytes += end - start;
        start = end;
        await flush();
      }
    }
    if (start < bytes.length) {
      pending.push(bytes.subarray(start));
      pendingBytes += bytes.length - start;
    }
  }
  scanner.end();
  await flush();
}

/** Passes a chunk through unchanged while counting its rows. */
function countingTap(encoding: RowEncoding, count: (rows: number, bytes: number) => void) {
  return async function* (source: AsyncIterable<Buffer>) {
    const scanner = rowScanner(encoding);
    for await (const part of source) {
      count(scanner.push(part).ends.length, part.length);
      yield part;
    }
    scanner.end();
  };
}

/** Moves every serial column's sequence past the restored ids, so new rows do not collide with them. */
async function resetSequences(pool: pg.Pool, schema: string, manifest: Manifest): Promise<void> {
  for (const table of manifest.tables) {
    const name = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table.table)}`;
    for (const column of table.columns) {
      const { rows } = await pool.query<{ seq: string | null }>('SELECT pg_get_serial_sequence($1, $2) AS seq', [name, column]);
      const seq = rows[0]?.seq;
      if (!seq) continue;
      await pool.query(`SELECT setval($1, GREATEST((SELECT max(${pg.escapeIdentifier(column)}) FROM ${name}), 1))`, [seq]);
    }
  }
}
