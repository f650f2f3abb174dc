import type pg from 'pg';
import type { Config } from '@terminusa/config';
import { createPool, ensureDatabase } from './database.ts';
import { migrate } from './migrate.ts';

/** The parts of a service's lifecycle the database joins (the runtime's ServiceContext has both). */
export interface DatabaseLifecycle {
  health: { add(name: string, check: () => Promise<void>): void };
  onStop(name: string, stop: () => Promise<void>): void;
}

/** Opens the suite's database for a service: creates it if missing, migrates it, and joins its health and shutdown. */
export async function openDatabase(config: Readonly<Config>, service: string, lifecycle: DatabaseLifecycle): Promise<pg.Pool> {
  await ensureDatabase(config.database.url);
  const pool = createPool(config.database, `terminusa-${service}`);
  lifecycle.onStop('postgres', () => pool.end());
  await migrate(pool, config.database.schema);
  lifecycle.health.add('postgres', async () => void (await pool.query('SELECT 1')));
  return pool;
}
