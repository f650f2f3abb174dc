import type pg from 'pg';
import type { Config } from '@terminusa/config';
import { createPool, ensureDatabase } from './database.ts';
import { prepareSchema, type SchemaLog } from './prepare-schema.ts';

/** The parts of a service's lifecycle the database joins (the runtime's ServiceContext has them all). */
export interface DatabaseLifecycle {
  health: { add(name: string, check: () => Promise<void>): void };
  onStop(name: string, stop: () => Promise<void>): void;
  logger: SchemaLog & { warn?(message: string, meta?: Record<string, unknown>): void };
}

/**
 * Opens the suite's database for a service and joins its health and shutdown. As the owner (`database.migrate`)
 * it creates the database if missing, migrates it and grants the services' own roles; otherwise it creates
 * nothing and waits until the owner has (prepareSchema).
 */
export async function openDatabase(config: Readonly<Config>, service: string, lifecycle: DatabaseLifecycle): Promise<pg.Pool> {
  if (config.database.migrate) await ensureDatabase(config.database.url);
  const pool = createPool(config.database, `terminusa-${service}`, (err) => lifecycle.logger.warn?.('a PostgreSQL connection ended; the pool opens another', { err }));
  lifecycle.onStop('postgres', () => pool.end());
  await prepareSchema(pool, config.database, service, lifecycle.logger);
  lifecycle.health.add('postgres', async () => void (await pool.query('SELECT 1')));
  return pool;
}
