import type pg from 'pg';

/**
 * Runs `work` while this session holds the advisory lock `name` (of the pool's schema), or not at all when another
 * session holds it: one run at a time across replicas and tools, the others leaving the work to it. Undefined when
 * it did not run.
 */
export async function whileLocked<T>(pool: pg.Pool, name: string, work: () => Promise<T>): Promise<T | undefined> {
  const lock = await pool.connect();
  const key = "hashtext($1 || ':' || current_schema())";
  try {
    const { rows } = await lock.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${key}) AS ok`, [name]);
    if (!rows[0]!.ok) return undefined;
    try {
      return await work();
    } finally {
      await lock.query(`SELECT pg_advisory_unlock(${key})`, [name]);
    }
  } finally {
    lock.release();
  }
}
