import type pg from 'pg';

/** Runs `work` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
export async function withTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // Its connection ending while borrowed (the server restarted) is the failure of the query in flight, not an uncaught
  // error of the process: the pool listens to idle connections only. A broken one is closed, not handed back.
  let broken: Error | undefined;
  const dropped = (err: Error) => void (broken = err);
  client.on('error', dropped);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => void (broken ??= rollbackErr));
    throw err;
  } finally {
    client.off('error', dropped);
    client.release(broken);
  }
}
