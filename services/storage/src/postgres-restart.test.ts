/**
 * The pool every service opens (createPool, withTransaction from @terminusa/database) when PostgreSQL ends its
 * connections, as a restart or a failover does: the queries in flight fail, the process goes on, and the next queries
 * get new connections. Unheard, an idle connection's error was an uncaught exception, and every service exited.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPool, withTransaction } from '@terminusa/database';
import { createTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';

let ns: TestNamespace;
beforeAll(async () => {
  ns = await createTestNamespace();
});
afterAll(async () => {
  await ns?.cleanup();
});

/** Ends every session of `applicationName`, as PostgreSQL does to all of them when it restarts. */
async function terminate(applicationName: string): Promise<number> {
  const admin = new pg.Client({ connectionString: ns.config.database.url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    return rows[0]!.n;
  } finally {
    await admin.end();
  }
}

describe('a pool whose connections PostgreSQL ends', () => {
  it('reports an idle connection’s end, drops it and opens another, the process going on', async () => {
    const name = `restart-idle-${randomUUID().slice(0, 8)}`;
    const ended: Error[] = [];
    const pool = createPool(ns.config.database, name, (err) => ended.push(err));
    try {
      await pool.query('SELECT 1');
      expect(pool.idleCount).toBe(1);
      expect(await terminate(name)).toBe(1);
      await waitFor(() => (ended.length === 1 ? true : undefined), 10_000, 'the idle connection’s end reported');
      expect(ended[0]!.message).toMatch(/terminating connection/);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('fails the transaction whose connection ended, closes that connection, and the next one runs', async () => {
    const name = `restart-busy-${randomUUID().slice(0, 8)}`;
    const pool = createPool(ns.config.database, name);
    try {
      // Its failure taken at once: it may come before the wait below is over, and a rejection no one holds yet is
      // reported as unhandled.
      const failure = withTransaction(pool, async (client) => {
        await client.query('SELECT pg_sleep(30)');
      }).then(
        () => undefined,
        (err: Error) => err,
      );
      await waitFor(async () => ((await terminate(name)) === 1 ? true : undefined), 10_000, 'the transaction’s session ended');
      expect((await failure)?.message).toMatch(/terminating connection|Connection terminated/);
      expect(await withTransaction(pool, async (client) => (await client.query<{ one: number }>('SELECT 1 AS one')).rows)).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
