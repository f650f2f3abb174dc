import pg from 'pg';
import type { Config } from '@terminusa/config';

/** Creates the configured database when it does not exist yet (first start on a fresh machine). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) return;
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } catch (err) {
    // Another service created it at the same moment: PostgreSQL says so, or, when both got past its check of the name,
    // the second fails on pg_database's unique index.
    const code = (err as { code?: string }).code;
    if (code !== '42P04' && code !== '23505') throw err;
  } finally {
    await client.end();
  }
}

/**
 * A connection pool whose unqualified names resolve in the configured schema. An idle connection the server ends (a
 * restart, a failover, pg_terminate_backend) is dropped from the pool and reported to `onError`: unheard, its error
 * was an uncaught exception, and every service of the suite exited at a PostgreSQL restart.
 */
export function createPool(config: Config['database'], applicationName: string, onError: (err: Error) => void = () => undefined): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    application_name: applicationName,
    // Named (prepared) statements keep one generic plan: PostgreSQL would otherwise plan the history reads again on
    // every call, since partition pruning makes their custom plans look cheaper; a generic plan prunes when it runs.
    // Unnamed statements, nearly all, are planned per call either way.
    options: `-c search_path=${config.schema} -c plan_cache_mode=force_generic_plan`,
  });
  pool.on('error', onError);
  return pool;
}
