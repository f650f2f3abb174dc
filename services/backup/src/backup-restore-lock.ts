import type pg from 'pg';
import { whileLocked } from '@terminusa/database';
import { BackupRestoreBusyError } from './errors.ts';

/**
 * The advisory lock backups hold shared and a restore holds exclusive, in the database they read or write: a backup
 * taken while a restore committed table by table held some tables restored and others not, signed and looking whole.
 */
const LOCK = 'terminusa-backup-restore';

/** Runs a backup of `pool`'s database, beside other backups; refused while a restore into it is under way. */
export async function whileBackingUp<T>(pool: pg.Pool, work: () => Promise<T>): Promise<T> {
  const ran = await whileLocked(pool, LOCK, async () => ({ result: await work() }), { shared: true });
  if (!ran) throw new BackupRestoreBusyError('a restore into this database is under way: a backup now would hold some tables restored and others not; take it once the restore is over');
  return ran.result;
}

/** Runs a restore into `pool`'s database, alone; refused while a backup of it is being taken. */
export async function whileRestoring<T>(pool: pg.Pool, work: () => Promise<T>): Promise<T> {
  const ran = await whileLocked(pool, LOCK, async () => ({ result: await work() }));
  if (!ran) throw new BackupRestoreBusyError('a backup of this database is being taken, or another restore into it is under way: restore once it is over');
  return ran.result;
}
