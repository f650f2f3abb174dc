/**
 * deploy/postgres/roles.sql against the real PostgreSQL the tests use, under a role and databases of this test's
 * own: the owner role it makes is no superuser, yet the owner's whole life works as it (every migration, partitions
 * created and dropped as the partition functions storage calls do, a restore drill's database), on a fresh server
 * and on one an older release migrated as `postgres`; and the services' own roles (gateway, alert-manager, storage, backup). The services' connection is configured as in compose and k8s: DATABASE_URL names the
 * role, the password comes separately (DATABASE_PASSWORD) and the config writes it into the URL.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { loadConfig } from '@terminusa/config';
import { BASE_TABLES_SQL, createPool, DELETION_LOGGED_TABLES, ensureDatabase, grantServiceRoles, migrate, prepareSchema, SERVICE_GRANTS } from '@terminusa/database';
import { createRoleDatabase, TEST_ROLE_PASSWORDS, TEST_SERVERS, type RoleDatabase } from '@terminusa/testkit';

const ROLES_SQL = join(import.meta.dirname, '..', '..', '..', 'deploy', 'postgres', 'roles.sql');
const id = `tmon_roles_${randomBytes(4).toString('hex')}`;
const role = id;
/** A URL of the test server as the superuser (the tests' own login), on database `db`. */
const adminUrl = (db: string) => Object.assign(new URL(TEST_SERVERS.databaseUrl), { pathname: `/${db}` }).toString();
const databases = new Set<string>();
const pools: pg.Pool[] = [];

/** psql with roles.sql, as the compose postgres-bootstrap runs it. */
function runRolesSql(db: string, password: string | undefined) {
  databases.add(db);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (password !== undefined) env.DATABASE_PASSWORD = password;
  return spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', `role=${role}`, '-v', `db=${db}`, '-f', ROLES_SQL, adminUrl('postgres')], { env, encoding: 'utf8' });
}

/** The database settings a service gets: its role in DATABASE_URL, the password apart. */
function serviceDatabase(db: string, password: string) {
  const url = Object.assign(new URL(adminUrl(db)), { username: role, password: '' }).toString();
  return loadConfig({ env: { DATABASE_URL: url, DATABASE_PASSWORD: password } }).database;
}

async function asSuperuser<T>(db: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(db) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Objects of the schema not owned by the role: what a service could not alter. */
async function foreignObjects(db: string): Promise<string[]> {
  return asSuperuser(db, async (c) => {
    const { rows } = await c.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S') AND pg_get_userbyid(c.relowner) <> $1
       UNION ALL
       SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> $1`,
      [role],
    );
    return rows.map((r) => r.name).sort();
  });
}

/** What is done as the owner, beyond the migrations: partition DDL (storage's, through the owner's functions), a restore drill's database. */
async function serviceWork(db: string, password: string): Promise<void> {
  const settings = serviceDatabase(db, password);
  expect(new URL(settings.url).username).toBe(role);
  await ensureDatabase(settings.url);
  const pool = createPool(settings, 'roles-test');
  pools.push(pool);
  await migrate(pool, settings.schema);
  const { rows } = await pool.query<{ current_user: string; rolsuper: boolean }>('SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user');
  expect(rows).toEqual([{ current_user: role, rolsuper: false }]);
  // A partition of a rollup tier made and, past retention, dropped: what rollup_partition_create / _drop run as the owner.
  await pool.query(`CREATE TABLE rollup_1d_roles_test PARTITION OF rollup_1d FOR VALUES FROM ('1990-01-01') TO ('1990-01-02')`);
  await pool.query('DROP TABLE rollup_1d_roles_test');
  // backup: a restore drill restores into a database of its own, which it creates and migrates.
  const drill = `${db}_drill`;
  databases.add(drill);
  const drillUrl = Object.assign(new URL(settings.url), { pathname: `/${drill}` }).toString();
  await ensureDatabase(drillUrl);
  const drillPool = createPool({ ...settings, url: drillUrl }, 'roles-test-drill');
  pools.push(drillPool);
  await migrate(drillPool, settings.schema);
  // Not a superuser: no reading the server's files.
  await expect(pool.query(`SELECT pg_read_file('postgresql.conf')`)).rejects.toThrow(/permission denied/);
}

afterAll(async () => {
  await Promise.allSettled(pools.map((p) => p.end()));
  await asSuperuser('postgres', async (c) => {
    for (const db of databases) await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`);
    await c.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  });
});

describe('deploy/postgres/roles.sql', () => {
  it('refuses to run without a password, and makes nothing', async () => {
    const run = runRolesSql(`${id}_nopw`, undefined);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/set DATABASE_PASSWORD/);
    const { rowCount } = await asSuperuser('postgres', (c) => c.query('SELECT FROM pg_roles WHERE rolname = $1', [role]));
    expect(rowCount).toBe(0);
  });

  it('on a fresh server: makes the role (no superuser) and its database, and the services run every migration and their work as it', async () => {
    const db = `${id}_fresh`;
    const run = runRolesSql(db, 'first-password');
    expect(run.status, run.stderr).toBe(0);
    const [r] = await asSuperuser('postgres', async (c) =>
      (await c.query('SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1', [role])).rows,
    );
    expect(r).toEqual({ rolsuper: false, rolcreatedb: true, rolcreaterole: false, rolcanlogin: true, rolreplication: false, rolbypassrls: false });
    const [owner] = await asSuperuser('postgres', async (c) => (await c.query('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [db])).rows);
    expect(owner).toEqual({ owner: role });
    await serviceWork(db, 'first-password');
    expect(await foreignObjects(db)).toEqual([]);
  });

  it('on a database an older release migrated as postgres: hands every object over, and the next migrations run as the role', async () => {
    const db = `${id}_older`;
    databases.add(db);
    await ensureDatabase(adminUrl(db));
    const old = new pg.Pool({ connectionString: adminUrl(db), max: 1 });
    pools.push(old);
    await migrate(old, 'public', 10);
    expect((await foreignObjects(db)).length).toBeGreaterThan(20);
    const run = runRolesSql(db, 'second-password');
    expect(run.status, run.stderr).toBe(0);
    expect(await foreignObjects(db)).toEqual([]);
    // Migration 11 alters tables made by postgres before; the role now owns them.
    await serviceWork(db, 'second-password');
    // Again, as at every compose deploy: nothing to do, no error; only the services' own roles, given no password, are skipped.
    const again = runRolesSql(db, 'second-password');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr.trim().split('\n').map((l) => l.replace(/^.*NOTICE: +/, ''))).toEqual([
      'roles.sql: GATEWAY_DATABASE_PASSWORD not set: role terminusa_gateway not made or changed (the service configured to log in as it cannot)',
      'roles.sql: ALERT_MANAGER_DATABASE_PASSWORD not set: role terminusa_alert_manager not made or changed (the service configured to log in as it cannot)',
      'roles.sql: STORAGE_DATABASE_PASSWORD not set: role terminusa_storage not made or changed (the service configured to log in as it cannot)',
      'roles.sql: BACKUP_DATABASE_PASSWORD not set: role terminusa_backup not made or changed (the service configured to log in as it cannot)',
    ]);
  });
});

describe('deploy/postgres/roles.sql: the gateway’s, the alert-manager’s, storage’s and backup’s own roles', () => {
  const made: RoleDatabase[] = [];
  const rolePools: pg.Pool[] = [];
  afterAll(async () => {
    await Promise.allSettled(rolePools.map((p) => p.end()));
    await Promise.allSettled(made.map((d) => d.cleanup()));
  });
  /** A role database made by roles.sql, its owner migrated and granting, as db-migrate runs. */
  async function migrated(): Promise<{ rdb: RoleDatabase; owner: pg.Pool }> {
    const rdb = createRoleDatabase();
    made.push(rdb);
    const run = rdb.runRolesSql();
    expect(run.status, run.stderr).toBe(0);
    const settings = rdb.config('owner').database;
    const owner = createPool(settings, 'roles-test-owner');
    rolePools.push(owner);
    await prepareSchema(owner, settings, 'db-migrate', { info: () => undefined });
    return { rdb, owner };
  }
  /** Every table privilege a role holds in the schema, as `table:PRIVILEGE`. */
  async function privileges(db: string, role: string): Promise<string[]> {
    return asSuperuser(db, async (c) => {
      const { rows } = await c.query<{ p: string }>(
        `SELECT table_name || ':' || privilege_type AS p FROM information_schema.role_table_grants WHERE grantee = $1 AND table_schema = 'public'`,
        [role],
      );
      return rows.map((r) => r.p).sort();
    });
  }
  const listed = (service: keyof typeof SERVICE_GRANTS) =>
    Object.entries(SERVICE_GRANTS[service])
      .flatMap(([table, privs]) => privs.map((p) => `${table}:${p}`))
      .sort();

  it('makes them login roles without DDL rights, with CONNECT and the schema’s USAGE (TEMP for storage and backup, CREATEDB for backup alone), and takes CONNECT, TEMP and CREATE from PUBLIC; idempotent', async () => {
    const rdb = createRoleDatabase();
    made.push(rdb);
    // Without the alert-manager's password: its role is skipped with a notice, the rest is made.
    const first = rdb.runRolesSql({ owner: TEST_ROLE_PASSWORDS.owner, apiGateway: TEST_ROLE_PASSWORDS.apiGateway, storage: TEST_ROLE_PASSWORDS.storage, backup: TEST_ROLE_PASSWORDS.backup });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`NOTICE: +roles.sql: ALERT_MANAGER_DATABASE_PASSWORD not set: role ${rdb.roles.alertManager} not made`))]);
    const own = [rdb.roles.apiGateway, rdb.roles.alertManager, rdb.roles.storage, rdb.roles.backup];
    const roles = async () =>
      asSuperuser('postgres', async (c) => (await c.query('SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname', [own])).rows);
    const login = { rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolcanlogin: true, rolreplication: false, rolbypassrls: false };
    // Backup alone may create databases: its restore drills restore into one of their own.
    const of = (rolname: string) => ({ rolname, ...login, rolcreatedb: rolname === rdb.roles.backup });
    expect(await roles()).toEqual([rdb.roles.apiGateway, rdb.roles.storage, rdb.roles.backup].sort().map(of));
    const again = rdb.runRolesSql();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(await roles()).toEqual([...own].sort().map(of));
    const acl = await asSuperuser(rdb.db, async (c) => (await c.query<{ db: string[]; schema: string[] }>(
      `SELECT (SELECT datacl::text[] FROM pg_database WHERE datname = current_database()) AS db, (SELECT nspacl::text[] FROM pg_namespace WHERE nspname = 'public') AS schema`,
    )).rows[0]!);
    // CONNECT for each; TEMP (T) for storage, whose rollups and archive load-back use temporary tables, and backup,
    // whose restore merges through one.
    expect(acl.db.sort()).toEqual(
      [`${rdb.roles.owner}=CTc/${rdb.roles.owner}`, `${rdb.roles.apiGateway}=c/${rdb.roles.owner}`, `${rdb.roles.alertManager}=c/${rdb.roles.owner}`, `${rdb.roles.storage}=Tc/${rdb.roles.owner}`, `${rdb.roles.backup}=Tc/${rdb.roles.owner}`].sort(),
    );
    // PUBLIC keeps USAGE on the schema (PostgreSQL 15's default) but not CREATE; CONNECT is what keeps others out.
    expect(acl.schema.sort()).toEqual(
      [`=U/${rdb.roles.owner}`, `${rdb.roles.owner}=UC/${rdb.roles.owner}`, ...own.map((r) => `${r}=U/${rdb.roles.owner}`)].sort(),
    );
    const rights = await asSuperuser(rdb.db, async (c) => (await c.query<{ role: string; connect: boolean; temp: boolean; create: boolean; usage: boolean; schemaCreate: boolean }>(
      `SELECT r AS role, has_database_privilege(r, current_database(), 'CONNECT') AS connect, has_database_privilege(r, current_database(), 'TEMP') AS temp,
              has_database_privilege(r, current_database(), 'CREATE') AS create, has_schema_privilege(r, 'public', 'USAGE') AS usage,
              has_schema_privilege(r, 'public', 'CREATE') AS "schemaCreate"
         FROM unnest($1::text[]) AS r ORDER BY r`,
      [own],
    )).rows);
    expect(rights).toEqual([...own].sort().map((role) => ({ role, connect: true, temp: role === rdb.roles.storage || role === rdb.roles.backup, create: false, usage: true, schemaCreate: false })));
    // Nothing granted on tables yet: the owner does that after migrating.
    for (const role of own) expect(await privileges(rdb.db, role), role).toEqual([]);
  });

  it('storage’s and backup’s roles may create the temporary tables their rollups, archive load-back and restores use; the gateway’s and the alert-manager’s may not', async () => {
    const rdb = createRoleDatabase();
    made.push(rdb);
    const run = rdb.runRolesSql();
    expect(run.status, run.stderr).toBe(0);
    const temp = async (login: 'storage' | 'backup' | 'apiGateway' | 'alertManager') => {
      const client = new pg.Client({ connectionString: rdb.config(login).database.url });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query('CREATE TEMP TABLE roles_test_stage (v int) ON COMMIT DROP');
        await client.query('INSERT INTO roles_test_stage VALUES (1)');
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
    };
    await temp('storage');
    await temp('backup');
    await expect(temp('apiGateway')).rejects.toThrow(/permission denied to create temporary tables/);
    await expect(temp('alertManager')).rejects.toThrow(/permission denied to create temporary tables/);
  });

  it('the owner grants each role exactly its list after the migrations, and converges when run again', async () => {
    const { rdb, owner } = await migrated();
    expect(await privileges(rdb.db, rdb.roles.apiGateway)).toEqual(listed('apiGateway'));
    expect(await privileges(rdb.db, rdb.roles.alertManager)).toEqual(listed('alertManager'));
    expect(await privileges(rdb.db, rdb.roles.storage)).toEqual(listed('storage'));
    // Backup: every base table (partitions through their parent), to copy out and merge back; no TRUNCATE, and
    // DELETE only where a restore replays logged deletes (alert rules).
    const tables = await asSuperuser(rdb.db, async (c) => (await c.query<{ name: string }>(BASE_TABLES_SQL, ['public'])).rows.map((r) => r.name));
    expect(tables).toEqual(expect.arrayContaining(['series', 'users', 'api_keys', 'alerts', 'rollup_1m', 'schema_migrations', 'row_deletions']));
    expect(await privileges(rdb.db, rdb.roles.backup)).toEqual(
      [...tables.flatMap((t) => ['INSERT', 'SELECT', 'UPDATE'].map((p) => `${t}:${p}`)), 'alert_rules:DELETE'].sort(),
    );
    // The tables whose deletes a trigger logs are the list the backup's DELETE grants come from.
    const logged = await asSuperuser(rdb.db, async (c) => (await c.query<{ t: string }>(
      `SELECT tgrelid::regclass::text AS t FROM pg_trigger WHERE tgfoid = 'public.record_row_deletion'::regproc ORDER BY 1`,
    )).rows.map((r) => r.t));
    expect(logged).toEqual([...DELETION_LOGGED_TABLES].sort());
    // And every sequence, whose restore sets it past the restored ids (setval needs UPDATE).
    const backupSeq = await asSuperuser(rdb.db, async (c) => (await c.query(
      `SELECT bool_and(has_sequence_privilege($1, c.oid, 'UPDATE')) AS update, count(*) > 0 AS some FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace`,
      [rdb.roles.backup],
    )).rows[0]);
    expect(backupSeq).toEqual({ update: true, some: true });
    // The partition functions of migration 12: storage's role alone may call them (not PUBLIC, not the others).
    const execute = await asSuperuser(rdb.db, async (c) => (await c.query<{ role: string; create: boolean; drop: boolean }>(
      `SELECT r AS role, has_function_privilege(r, 'rollup_partition_create(text, text, timestamptz, timestamptz)', 'EXECUTE') AS create,
              has_function_privilege(r, 'rollup_partition_drop(text)', 'EXECUTE') AS drop
         FROM unnest($1::text[]) AS r ORDER BY r`,
      [[rdb.roles.apiGateway, rdb.roles.alertManager, rdb.roles.storage, 'public']],
    )).rows);
    expect(execute).toEqual(
      [rdb.roles.apiGateway, rdb.roles.alertManager, rdb.roles.storage, 'public'].sort().map((role) => ({ role, create: role === rdb.roles.storage, drop: role === rdb.roles.storage })),
    );
    // The gateway's serial audit_log ids: USAGE on their sequence, which comes with INSERT.
    const seq = await asSuperuser(rdb.db, async (c) => (await c.query(`SELECT has_sequence_privilege($1, 'audit_log_id_seq', 'USAGE') AS gw, has_sequence_privilege($2, 'audit_log_id_seq', 'USAGE') AS am`, [rdb.roles.apiGateway, rdb.roles.alertManager])).rows[0]);
    expect(seq).toEqual({ gw: true, am: false });
    // Storage's new series ids: USAGE on series' sequence, which comes with its INSERT; the readers of series have none.
    const seriesSeq = await asSuperuser(rdb.db, async (c) => (await c.query(`SELECT has_sequence_privilege($1, 'series_id_seq', 'USAGE') AS st, has_sequence_privilege($2, 'series_id_seq', 'USAGE') AS gw`, [rdb.roles.storage, rdb.roles.apiGateway])).rows[0]);
    expect(seriesSeq).toEqual({ st: true, gw: false });
    // A privilege granted by hand (or left by an older list) goes at the next owner start.
    await asSuperuser(rdb.db, (c) => c.query(`GRANT ALL ON series, users TO ${pg.escapeIdentifier(rdb.roles.alertManager)}`));
    expect(await privileges(rdb.db, rdb.roles.alertManager)).toContain('users:TRUNCATE');
    expect(await grantServiceRoles(owner, 'public', rdb.config('owner').database.roles)).toEqual([rdb.roles.apiGateway, rdb.roles.alertManager, rdb.roles.storage, rdb.roles.backup]);
    expect(await privileges(rdb.db, rdb.roles.alertManager)).toEqual(listed('alertManager'));
    // A role that does not exist is skipped.
    expect(await grantServiceRoles(owner, 'public', { apiGateway: `${rdb.roles.apiGateway}_missing`, alertManager: rdb.roles.alertManager, storage: rdb.roles.storage, backup: rdb.roles.backup })).toEqual([
      rdb.roles.alertManager,
      rdb.roles.storage,
      rdb.roles.backup,
    ]);
  });

  it('a partitioned table is read through its parent with the parent’s grant alone, never a partition directly', async () => {
    const { rdb, owner } = await migrated();
    await owner.query(`CREATE TABLE rollup_1h_roles_test PARTITION OF rollup_1h FOR VALUES FROM ('1990-01-01') TO ('1990-01-02')`);
    await owner.query(`INSERT INTO rollup_1h VALUES (1, '1990-01-01T05:00Z', 2, 3, 1, 2, 2, '1990-01-01T05:30Z'), (1, '2990-01-01T05:00Z', 1, 1, 1, 1, 1, '2990-01-01T05:00Z')`);
    const gateway = createPool(rdb.config('apiGateway').database, 'roles-test-gateway');
    rolePools.push(gateway);
    const { rows } = await gateway.query<{ n: number }>('SELECT count(*)::int AS n FROM rollup_1h WHERE series_id = 1');
    expect(rows).toEqual([{ n: 2 }]);
    await expect(gateway.query('SELECT * FROM rollup_1h_roles_test')).rejects.toThrow(/permission denied for table rollup_1h_roles_test/);
    await expect(gateway.query('SELECT * FROM rollup_1h_default')).rejects.toThrow(/permission denied/);
  });
});
