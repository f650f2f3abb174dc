import type { Config } from '@terminusa/config';
import { createPool, ensureDatabase } from './database.ts';
import { SCHEMA_VERSION } from './migrate.ts';
import { prepareSchema, type SchemaLog } from './prepare-schema.ts';

/**
 * What the one-shot db-migrate does, logged in as the owner role: creates the database when it is missing, migrates
 * the schema to this release's version and grants each service's own role its tables. No service holds the owner's
 * credentials: each waits for this (database.migrate false).
 */
export async function migrateDatabase(settings: Config['database'], log: SchemaLog): Promise<void> {
  await ensureDatabase(settings.url);
  const pool = createPool({ ...settings, poolSize: 1 }, 'db-migrate');
  try {
    await prepareSchema(pool, { ...settings, migrate: true }, 'db-migrate', log);
    log.info('schema migrated and the services’ roles granted', { schema: settings.schema, version: SCHEMA_VERSION });
  } finally {
    await pool.end();
  }
}
