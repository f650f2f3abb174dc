import type pg from 'pg';
import type { Config } from '@terminusa/config';
import { createPool, ensureDatabase, migrate } from '@terminusa/database';
import type { BackupOperations } from '../backup-operations.ts';
import type { RestoreRunner } from '../schedule/backup-queue.ts';

/**
 * Runs restore jobs: into the live database, or for a restore drill into another database on the same server whose
 * name is the only thing taken from the request. The drill database is created and migrated only once the backup is
 * verified, so a refused backup creates nothing; one that holds rows already is refused (TargetNotEmptyError).
 */
export function restoreRunner(config: Readonly<Config>, ops: BackupOperations, live: pg.Pool): RestoreRunner {
  return async (data, progress) => {
    let target = live;
    let prepareTarget: (() => Promise<void>) | undefined;
    if (data.intoDatabase) {
      const url = new URL(config.database.url);
      url.pathname = `/${data.intoDatabase}`;
      const drill = (target = createPool({ ...config.database, url: url.toString() }, 'terminusa-backup-restore'));
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
        // A drill goes into an empty database: the gateway has no way to ask for its rows to be replaced.
        ...(prepareTarget ? { prepareTarget, ifTargetHasRows: 'refuse' as const } : {}),
      });
      return { ...result, tables };
    } finally {
      if (target !== live) await target.end();
    }
  };
}
