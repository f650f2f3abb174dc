import type pg from 'pg';
import { createPool, migrate } from '@terminusa/database';
import { createTestNamespace, type TestNamespace } from './test-namespace.ts';

/** A test namespace and a pool on its schema; `cleanup` ends the pool, then the namespace. */
export interface TestDatabase {
  ns: TestNamespace;
  pool: pg.Pool;
  cleanup(): Promise<void>;
}

/** How {@link createTestDatabase} sets up. */
export interface TestDatabaseOptions {
  /** Config overrides of the namespace, as {@link createTestNamespace} takes them. */
  overrides?: Record<string, unknown>;
  /** The pool's `application_name`, which tells the test's sessions apart in `pg_stat_activity`. */
  applicationName?: string;
  /** Whether the schema is migrated to the latest version first; tests of the migrations themselves say false. */
  migrate?: boolean;
}

/** The setup most database tests share: a fresh namespace, a pool on its schema, the schema migrated. */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const ns = await createTestNamespace(options.overrides);
  const pool = createPool(ns.config.database, options.applicationName ?? 'test');
  if (options.migrate ?? true) await migrate(pool, ns.config.database.schema);
  return {
    ns,
    pool,
    async cleanup() {
      await pool.end();
      await ns.cleanup();
    },
  };
}
