export { ensureDatabase, createPool } from './database.ts';
export { migrate } from './migrate.ts';
export { withTransaction } from './transaction.ts';
export { openDatabase } from './open-database.ts';
export type { DatabaseLifecycle } from './open-database.ts';
