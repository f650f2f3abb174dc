import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Config } from '@terminusa/config';
import { SchemaNotReadyError } from './errors.ts';
import { migrate, SCHEMA_VERSION } from './migrate.ts';
import { BASE_TABLES_SQL, grantServiceRoles, restrictedService, SCHEMA_WIDE_GRANTS, SERVICE_GRANTS, SERVICE_ROUTINES, type TablePrivilege } from './service-grants.ts';

/** Where prepareSchema tells what it did or waits for (a service's logger). */
export interface SchemaLog {
  info(message: string, meta?: Record<string, unknown>): void;
}

/** How often a service that does not migrate looks at the schema again while it waits. */
const POLL_MS = 500;

/**
 * Brings the schema to this code's version for `service`. As the owner (`database.migrate`, the default) it
 * migrates and then grants the restricted roles their tables; otherwise it only reads: it waits until the schema
 * is at SCHEMA_VERSION and its role holds every privilege of its grant list, and fails after
 * `database.migrationTimeout` with SchemaNotReadyError.
 */
export async function prepareSchema(pool: pg.Pool, settings: Config['database'], service: string, log: SchemaLog): Promise<void> {
  if (settings.migrate) {
    await migrate(pool, settings.schema);
    const granted = await grantServiceRoles(pool, settings.schema, settings.roles);
    if (granted.length > 0) log.info('granted the services’ own roles their tables', { schema: settings.schema, roles: granted });
    return;
  }
  const restricted = restrictedService(service);
  const needs: Readonly<Record<string, readonly TablePrivilege[]>> = restricted ? SERVICE_GRANTS[restricted] : { schema_migrations: ['SELECT'] };
  const routines = restricted ? SERVICE_ROUTINES[restricted] : [];
  const wide = restricted ? SCHEMA_WIDE_GRANTS[restricted]?.tables : undefined;
  const started = Date.now();
  let told: string | undefined;
  for (;;) {
    const reason = await schemaShortfall(pool, settings.schema, wide ? await everyTable(pool, settings.schema, needs, wide) : needs, routines);
    if (reason === undefined) {
      if (told !== undefined) log.info('schema ready: migrated and granted by the owner', { schema: settings.schema, version: SCHEMA_VERSION });
      return;
    }
    const waited = Date.now() - started;
    if (waited >= settings.migrationTimeout * 1000) throw new SchemaNotReadyError(settings.schema, reason, waited);
    if (reason !== told) {
      log.info(`waiting for the owner role to migrate schema ${settings.schema} to version ${SCHEMA_VERSION} and grant this role its tables (database.migrate is false)`, {
        reason,
        timeoutSeconds: settings.migrationTimeout,
      });
      told = reason;
    }
    await sleep(POLL_MS);
  }
}

/** `needs` and `privileges` on every base table the schema holds now (none while it does not exist). */
async function everyTable(pool: pg.Pool, schema: string, needs: Readonly<Record<string, readonly TablePrivilege[]>>, privileges: readonly TablePrivilege[]): Promise<Record<string, readonly TablePrivilege[]>> {
  const { rows } = await pool.query<{ name: string }>(BASE_TABLES_SQL, [schema]).catch((err: { code?: string }) => {
    if (err.code === '3D000') return { rows: [] };
    throw err;
  });
  return { schema_migrations: ['SELECT'], ...needs, ...Object.fromEntries(rows.map((r) => [r.name, privileges])) };
}

/** Errors of a PostgreSQL that is down, starting or shutting down (the network's, and SQLSTATE class 57P). */
const NOT_REACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

/** Why the schema is not yet usable by the current role with `needs` and `routines`, or undefined when it is. */
async function schemaShortfall(pool: pg.Pool, schema: string, needs: Readonly<Record<string, readonly TablePrivilege[]>>, routines: readonly string[]): Promise<string | undefined> {
  let namespace: { usage: boolean } | undefined;
  try {
    namespace = (await pool.query<{ usage: boolean }>(`SELECT has_schema_privilege(oid, 'USAGE') AS usage FROM pg_namespace WHERE nspname = $1`, [schema])).rows[0];
  } catch (err) {
    // The owner creates the database; this service must not.
    if ((err as { code?: string }).code === '3D000') return 'the database does not exist yet';
    // PostgreSQL down or starting, as when it restarts with the services: waited for as the schema is, within
    // database.migrationTimeout; thrown, it made every service that waits for the owner crash and restart in a loop.
    if (NOT_REACHABLE.has((err as { code?: string }).code ?? '') || /Connection terminated|timeout/i.test((err as Error).message)) return `PostgreSQL is not reachable yet (${(err as Error).message})`;
    throw err;
  }
  if (!namespace) return `no schema ${schema} yet`;
  if (!namespace.usage) return `no USAGE on schema ${schema} (deploy/postgres/roles.sql grants it)`;
  const pairs = Object.entries(needs).flatMap(([table, privileges]) => privileges.map((p) => [table, p] as const));
  const { rows } = await pool.query<{ name: string; priv: string; found: boolean; granted: boolean; role: string }>(
    `SELECT x.name, x.priv, c.oid IS NOT NULL AS found, c.oid IS NOT NULL AND has_table_privilege(c.oid, x.priv) AS granted, current_user AS role
       FROM unnest($2::text[], $3::text[]) AS x(name, priv)
       LEFT JOIN pg_class c ON c.relname = x.name AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)`,
    [schema, pairs.map(([t]) => t), pairs.map(([, p]) => p)],
  );
  const migrations = rows.filter((r) => r.name === 'schema_migrations');
  if (migrations.some((r) => !r.found)) return 'no schema_migrations table yet';
  const denied = (r: { granted: boolean }) => !r.granted;
  if (migrations.some(denied)) return `role ${rows[0]!.role} may not read schema_migrations yet`;
  const { rows: versions } = await pool.query<{ version: number }>(`SELECT coalesce(max(version), 0) AS version FROM ${pg.escapeIdentifier(schema)}.schema_migrations`);
  const version = versions[0]!.version;
  if (version < SCHEMA_VERSION) return `at version ${version}`;
  const missing = rows.filter(denied);
  if (missing.length > 0) return `role ${rows[0]!.role} lacks ${missing.map((r) => (r.found ? `${r.priv} on ${r.name}` : `table ${r.name}`)).join(', ')}`;
  if (routines.length === 0) return undefined;
  const { rows: callable } = await pool.query<{ routine: string; granted: boolean | null }>(
    `SELECT x.routine, has_function_privilege(to_regprocedure(format('%I.', $1::text) || x.routine), 'EXECUTE') AS granted FROM unnest($2::text[]) AS x(routine)`,
    [schema, routines],
  );
  const uncallable = callable.filter((r) => !r.granted);
  if (uncallable.length > 0) return `role ${rows[0]!.role} may not call ${uncallable.map((r) => r.routine).join(', ')}`;
  return undefined;
}
