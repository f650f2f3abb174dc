import type pg from 'pg';

/**
 * Runs `work` while this session holds the advisory lock `name` (of the pool's schema), or not at all when another
 * session holds it: one run at a time across replicas and tools, the others leaving the work to it. Undefined when
 * it did not run. `work` gets `held()`, which rejects once the lock's connection is gone (and with it the lock, which
 * another run may then take): called before each unit of work, it keeps a run that lost its lock from writing on.
 */
export async function whileLocked<T>(pool: pg.Pool, name: string, work: (held: () => Promise<void>) => Promise<T>, options: { shared?: boolean } = {}): Promise<T | undefined> {
  // Shared holders run side by side, and keep out an exclusive one (and it them).
  const [take, release] = options.shared ? ['pg_try_advisory_lock_shared', 'pg_advisory_unlock_shared'] : ['pg_try_advisory_lock', 'pg_advisory_unlock'];
  const lock = await pool.connect();
  const key = "hashtext($1 || ':' || current_schema())";
  // A connection that failed is closed, not handed back to the pool (its lock went with it).
  let broken: Error | undefined;
  // Its connection dropping between two queries is an event on it, not an uncaught error of the process.
  const dropped = (err: Error) => void (broken = err);
  lock.on('error', dropped);
  try {
    const { rows } = await lock.query<{ ok: boolean }>(`SELECT ${take}(${key}) AS ok`, [name]);
    if (!rows[0]!.ok) return undefined;
    try {
      return await work(async () => {
        await lock.query('SELECT 1').catch((err: Error) => {
          broken ??= err;
          throw new Error(`the advisory lock ${name} was lost with its connection: ${err.message}`);
        });
      });
    } finally {
      if (!broken) await lock.query(`SELECT ${release}(${key})`, [name]).catch((err: Error) => void (broken = err));
    }
  } finally {
    lock.off('error', dropped);
    lock.release(broken);
  }
}
