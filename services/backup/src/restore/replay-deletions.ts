import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { RESTORING_SETTING, ROW_DELETIONS_TABLE, withTransaction } from '@terminusa/database';
import { copyOptions } from '../format/copy-rows.ts';
import type { Manifest } from '../format/manifest.ts';
import type { Keyring } from '../keys/keyring.ts';
import { sealedRows } from './sealed-chunk.ts';
import { loggedKeyJoin } from '../format/logged-keys.ts';

/** Where the deletes of one backup are replayed. */
export interface ReplayTarget {
  backupsDir: string;
  keyring: Keyring;
  target: pg.Pool;
  schema: string;
}

/**
 * Deletes from the target the rows the backup's deletion log (migration 13) says were deleted, by primary key, in one
 * transaction; returns how many. Run for an incremental before its rows are laid over the target, so a row deleted
 * and made again inside it comes back as made again. A full backup's log is not replayed: its rows are the whole state.
 */
export async function replayDeletions(req: ReplayTarget, manifest: Manifest): Promise<number> {
  const log = manifest.tables.find((t) => t.table === ROW_DELETIONS_TABLE);
  if (!log || log.rows === 0) return 0;
  const key = req.keyring.dataKey(manifest.keyId);
  return withTransaction(req.target, async (client) => {
    await client.query(`SET LOCAL ${RESTORING_SETTING} = 'on'`);
    const logName = `${pg.escapeIdentifier(req.schema)}.${pg.escapeIdentifier(ROW_DELETIONS_TABLE)}`;
    await client.query(`CREATE TEMP TABLE restore_deletions (LIKE ${logName}) ON COMMIT DROP`);
    const cols = log.columns.map((c) => pg.escapeIdentifier(c)).join(', ');
    for (const chunk of log.chunks) {
      const content = await sealedRows(req.backupsDir, manifest, key, log, chunk);
      await pipeline(Readable.from([content]), client.query(copyStreams.from(`COPY restore_deletions (${cols}) FROM STDIN${copyOptions(log.encoding)}`)));
    }
    // Only the tables the log names: the restore's role may delete from those alone (service-grants.ts).
    const { rows: named } = await client.query<{ table_name: string }>('SELECT DISTINCT table_name FROM restore_deletions');
    const logged = new Set(named.map((r) => r.table_name));
    let deleted = 0;
    for (const table of manifest.tables) {
      if (!logged.has(table.table) || table.primaryKey.length === 0 || table.table === ROW_DELETIONS_TABLE) continue;
      const name = `${pg.escapeIdentifier(req.schema)}.${pg.escapeIdentifier(table.table)}`;
      const join = loggedKeyJoin(name, table.primaryKey);
      const { rowCount } = await client.query(`DELETE FROM ${name} t USING restore_deletions d, ${join.lateral} WHERE d.table_name = $1 AND ${join.matches}`, [table.table]);
      deleted += rowCount ?? 0;
    }
    // Recorded with the deletes, in their transaction: a restore stopped before it reached the log's own table left
    // deletes no later backup of this database carried. Its sequence moves past them, or the next delete logged here
    // would take one of their ids.
    const set = log.columns.filter((c) => c !== 'id').map((c) => `${pg.escapeIdentifier(c)} = EXCLUDED.${pg.escapeIdentifier(c)}`);
    await client.query(`INSERT INTO ${logName} (${cols}) SELECT ${cols} FROM restore_deletions ON CONFLICT (id) DO UPDATE SET ${set.join(', ')}`);
    const { rows: seq } = await client.query<{ name: string | null }>("SELECT pg_get_serial_sequence($1, 'id') AS name", [logName]);
    if (seq[0]?.name) await client.query(`SELECT setval($1::regclass, GREATEST((SELECT max(id) FROM ${logName}), (SELECT last_value FROM ${seq[0].name})))`, [seq[0].name]);
    return deleted;
  });
}
