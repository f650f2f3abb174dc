export { ensureDatabase, createPool } from './database.ts';
export { migrate } from './migrate.ts';
