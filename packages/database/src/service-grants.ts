import pg from 'pg';
import type { Config } from '@terminusa/config';
import { withTransaction } from './transaction.ts';
import { DELETION_LOGGED_TABLES } from './row-deletions.ts';

/** A table privilege a restricted service may hold; never TRUNCATE, REFERENCES or TRIGGER, and no DDL at all. */
export type TablePrivilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/** The services that log in as a role of their own, by their key in `database.roles`. */
export type RestrictedService = keyof Config['database']['roles'];

/**
 * What each restricted service's code reads and writes, table by table, found from the SQL of the service and of
 * the package classes it constructs; a table not listed is refused to it. A partitioned table is granted as its
 * parent, through which the code queries it. USAGE on a table's serial sequences comes with INSERT.
 */
export const SERVICE_GRANTS: Readonly<Record<RestrictedService, Readonly<Record<string, readonly TablePrivilege[]>>>> = {
  apiGateway: {
    // Whether the owner has migrated (openDatabase with database.migrate false).
    schema_migrations: ['SELECT'],
    // PgUserStore (users, API keys; no deletes: users are disabled, keys revoked) and PgAuditLog.
    users: ['SELECT', 'INSERT', 'UPDATE'],
    api_keys: ['SELECT', 'INSERT', 'UPDATE'],
    audit_log: ['SELECT', 'INSERT'],
    // PgAlertStore: alert history is read, rules and silences are managed through the API.
    alerts: ['SELECT'],
    alert_events: ['SELECT'],
    alert_rules: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    silences: ['SELECT', 'INSERT', 'UPDATE'],
    // SampleStore.names and queryHistory: the series and the rollup tiers up to their watermarks.
    series: ['SELECT'],
    rollup_1m: ['SELECT'],
    rollup_5m: ['SELECT'],
    rollup_1h: ['SELECT'],
    rollup_1d: ['SELECT'],
    rollup_watermarks: ['SELECT'],
    // The minutes the 1m watermark passed that are not computed yet are read from the engine (readComputedWatermarks).
    rollup_dirty: ['SELECT'],
  },
  alertManager: {
    schema_migrations: ['SELECT'],
    // PgAlertStore: record (alert upserts with their events), addEvent, syncFileRules and rules, silences.
    alerts: ['SELECT', 'INSERT', 'UPDATE'],
    alert_events: ['SELECT', 'INSERT'],
    alert_rules: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    silences: ['SELECT'],
  },
  storage: {
    schema_migrations: ['SELECT'],
    // SeriesIds (ids for new series: INSERT … ON CONFLICT DO UPDATE) and SampleStore.names.
    series: ['SELECT', 'INSERT', 'UPDATE'],
    // computeRollups (upserts of each tier), the archive's load-back and retention's deletes past a tier's cutoff.
    rollup_1m: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    rollup_5m: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    rollup_1h: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    rollup_1d: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    // applyRetention names each default partition: restored or loaded-back rows past retention are archived and deleted.
    rollup_1m_default: ['SELECT', 'DELETE'],
    rollup_5m_default: ['SELECT', 'DELETE'],
    rollup_1h_default: ['SELECT', 'DELETE'],
    rollup_1d_default: ['SELECT', 'DELETE'],
    // DirtyMinutes: minutes to roll up again, claimed by one replica at a time.
    rollup_dirty: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    // Read FOR UPDATE and advanced by computeRollups.
    rollup_watermarks: ['SELECT', 'UPDATE'],
  },
  // Every table of the schema, whichever there are: see SCHEMA_WIDE_GRANTS. Deletes only where a restore replays
  // logged ones (row-deletions.ts).
  backup: Object.fromEntries(DELETION_LOGGED_TABLES.map((table) => [table, ['DELETE'] as const])),
};

/**
 * Services granted on every base table of the schema rather than a list: the backup copies every table out
 * (SELECT) and a restore merges rows back (INSERT … ON CONFLICT DO UPDATE), and sets each serial sequence past the
 * restored ids (setval: UPDATE on the sequence). Never TRUNCATE or DDL, and DELETE only on the tables whose deletes are logged
 * (SERVICE_GRANTS): a restore into a database whose tables it does not own loads through their indexes instead of
 * dropping and rebuilding them.
 */
export const SCHEMA_WIDE_GRANTS: Readonly<Partial<Record<RestrictedService, { tables: readonly TablePrivilege[]; sequences: readonly string[] }>>> = {
  backup: { tables: ['SELECT', 'INSERT', 'UPDATE'], sequences: ['USAGE', 'SELECT', 'UPDATE'] },
};

/** The names of the base tables of `schema` ($1): partitions are reached through their parent. */
export const BASE_TABLES_SQL = `SELECT c.relname::text AS name FROM pg_class c
  WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  ORDER BY 1`;

/**
 * The functions each restricted service may call, by signature: DDL it needs, done by the owner's SECURITY DEFINER
 * functions of migration 12 (the storage creates and drops rollup partitions). Nobody else may call them.
 */
export const SERVICE_ROUTINES: Readonly<Record<RestrictedService, readonly string[]>> = {
  apiGateway: [],
  alertManager: [],
  storage: ['rollup_partition_create(text, text, timestamptz, timestamptz)', 'rollup_partition_drop(text)'],
  backup: [],
};

/** The restricted service a service name stands for (`api-gateway` → `apiGateway`), if it is one. */
export function restrictedService(service: string): RestrictedService | undefined {
  const key = service.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return Object.hasOwn(SERVICE_GRANTS, key) ? (key as RestrictedService) : undefined;
}

/**
 * Makes each existing role of `roles` hold exactly its service's privileges in `schema`: everything on the schema's
 * tables, sequences and functions revoked, then the lists granted, in one transaction under the migrations' lock, so a table
 * added by a later migration is granted at the owner's next start and a privilege dropped from the list goes.
 * Roles that do not exist (roles.sql not run for them) are skipped. Returns the roles granted.
 */
export async function grantServiceRoles(pool: pg.Pool, schema: string, roles: Config['database']['roles']): Promise<string[]> {
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`terminusa-migrate:${schema}`]);
    const wanted = Object.entries(roles) as [RestrictedService, string][];
    const { rows } = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [wanted.map(([, role]) => role)]);
    const present = new Set(rows.map((r) => r.rolname));
    const granted: string[] = [];
    const s = pg.escapeIdentifier(schema);
    for (const [service, role] of wanted) {
      if (!present.has(role)) continue;
      const r = pg.escapeIdentifier(role);
      await client.query(`REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${r}`);
      await client.query(`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${r}`);
      await client.query(`REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ${s} FROM ${r}`);
      for (const routine of SERVICE_ROUTINES[service]) await client.query(`GRANT EXECUTE ON FUNCTION ${s}.${routine} TO ${r}`);
      const wide = SCHEMA_WIDE_GRANTS[service];
      if (wide) {
        const { rows: tables } = await client.query<{ name: string }>(BASE_TABLES_SQL, [schema]);
        for (const { name } of tables) await client.query(`GRANT ${wide.tables.join(', ')} ON TABLE ${s}.${pg.escapeIdentifier(name)} TO ${r}`);
        await client.query(`GRANT ${wide.sequences.join(', ')} ON ALL SEQUENCES IN SCHEMA ${s} TO ${r}`);
      }
      for (const [table, privileges] of Object.entries(SERVICE_GRANTS[service])) {
        const t = `${s}.${pg.escapeIdentifier(table)}`;
        await client.query(`GRANT ${privileges.join(', ')} ON TABLE ${t} TO ${r}`);
        if (!privileges.includes('INSERT')) continue;
        const { rows: sequences } = await client.query<{ name: string }>(
          `SELECT format('%I.%I', n.nspname, c.relname) AS name
             FROM pg_depend d JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE d.classid = 'pg_class'::regclass AND d.refobjid = $1::regclass AND c.relkind = 'S' AND d.deptype IN ('a', 'i')`,
          [t],
        );
        for (const q of sequences) await client.query(`GRANT USAGE ON SEQUENCE ${q.name} TO ${r}`);
      }
      granted.push(role);
    }
    return granted;
  });
}
