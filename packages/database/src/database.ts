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
    // Another service created it at the same moment.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await client.end();
  }
}

/** A connection pool whose unqualified names resolve in the configured schema. */
export function createPool(config: Config['database'], applicationName: string): pg.Pool {
  return new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    application_name: applicationName,
    // Named (prepared) statements keep one generic plan: PostgreSQL would otherwise plan the history reads again on
    // every call, since partition pruning makes their custom plans look cheaper; a generic plan prunes when it runs.
    // Unnamed statements, nearly all, are planned per call either way.
    options: `-c search_path=${config.schema} -c plan_cache_mode=force_generic_plan`,
  });
}
