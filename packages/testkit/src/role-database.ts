import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig, type Config } from '@terminusa/config';
import { createPool, openDatabase, prepareSchema } from '@terminusa/database';
import { TEST_SERVERS } from './test-namespace.ts';

/** deploy/postgres/roles.sql, which the compose postgres-bootstrap runs. */
export const ROLES_SQL = join(import.meta.dirname, '..', '..', '..', 'deploy', 'postgres', 'roles.sql');

/** Who logs in: the owner role (the one-shot db-migrate) or a service's own role. */
export type RoleLogin = 'owner' | keyof Config['database']['roles'];

/** The passwords roles.sql reads from the environment, by the role they are for; a role left out is skipped. */
export type RolePasswords = Partial<Record<RoleLogin, string>>;

/**
 * A database of its own made by roles.sql, with an owner role and the services' own roles named for this test
 * (roles are cluster-wide), and the configuration each login gets, as compose and k8s give it.
 */
export interface RoleDatabase {
  readonly db: string;
  readonly roles: Readonly<Record<RoleLogin, string>>;
  /** Runs roles.sql as the superuser with these passwords; its status and stderr. */
  runRolesSql(passwords?: RolePasswords): SpawnSyncReturns<string>;
  /** The environment of a service logging in as `login` (the owner migrates; the others wait for it). */
  env(login: RoleLogin): Record<string, string>;
  /** The configuration that environment gives, with `overrides`. */
  config(login: RoleLogin, overrides?: Record<string, unknown>): Readonly<Config>;
  /**
   * Opens the database as `service` does at start when it begins before the owner (as it may in compose or k8s):
   * resolves once it logs that it waits for the owner's migrations, having created nothing (else it rejects); then
   * migrates and grants as the owner, and resolves with both pools when the service's start has completed.
   */
  openBeforeOwner(login: Exclude<RoleLogin, 'owner'>, service: string): Promise<RolePools>;
  /** Drops the database, any database its roles made, and the roles (after ending the pools openBeforeOwner made). */
  cleanup(): Promise<void>;
}

/** A service's pool, logged in as its own role, and the owner's pool, on a role database. */
export interface RolePools {
  service: pg.Pool;
  owner: pg.Pool;
}

const PASSWORD_VARIABLES: Record<RoleLogin, string> = {
  owner: 'DATABASE_PASSWORD',
  apiGateway: 'GATEWAY_DATABASE_PASSWORD',
  alertManager: 'ALERT_MANAGER_DATABASE_PASSWORD',
  storage: 'STORAGE_DATABASE_PASSWORD',
  backup: 'BACKUP_DATABASE_PASSWORD',
};
const ROLE_VARIABLES: Record<RoleLogin, string> = { owner: 'role', apiGateway: 'gateway_role', alertManager: 'alert_manager_role', storage: 'storage_role', backup: 'backup_role' };

/** The default password of each login in a test. */
export const TEST_ROLE_PASSWORDS: Readonly<Record<RoleLogin, string>> = { owner: 'owner-pw-0123456789', apiGateway: 'gateway-pw-0123456789', alertManager: 'alert-pw-0123456789', storage: 'storage-pw-0123456789', backup: 'backup-pw-0123456789' };

/** A URL of the test server as the superuser, on database `db`. */
const adminUrl = (db: string) => Object.assign(new URL(TEST_SERVERS.databaseUrl), { pathname: `/${db}` }).toString();

/** Names a database and five roles for one test; nothing is made until runRolesSql. */
export function createRoleDatabase(): RoleDatabase {
  const id = `tmon_rdb_${randomBytes(4).toString('hex')}`;
  const roles = { owner: `${id}_owner`, apiGateway: `${id}_gw`, alertManager: `${id}_am`, storage: `${id}_st`, backup: `${id}_bk` };
  const ends: (() => Promise<void>)[] = [];
  return {
    db: id,
    roles,
    runRolesSql(passwords = TEST_ROLE_PASSWORDS) {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      for (const [login, password] of Object.entries(passwords) as [RoleLogin, string][]) env[PASSWORD_VARIABLES[login]] = password;
      const variables = (Object.keys(roles) as RoleLogin[]).flatMap((login) => ['-v', `${ROLE_VARIABLES[login]}=${roles[login]}`]);
      return spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...variables, '-v', `db=${id}`, '-f', ROLES_SQL, adminUrl('postgres')], { env, encoding: 'utf8' });
    },
    env(login) {
      return {
        DATABASE_URL: Object.assign(new URL(adminUrl(id)), { username: roles[login], password: '' }).toString(),
        DATABASE_PASSWORD: TEST_ROLE_PASSWORDS[login],
        TMON_DATABASE__MIGRATE: String(login === 'owner'),
        TMON_DATABASE__ROLES: JSON.stringify({ apiGateway: roles.apiGateway, alertManager: roles.alertManager, storage: roles.storage, backup: roles.backup }),
        VM_URL: TEST_SERVERS.vmUrl,
        VM_NAMESPACE: id,
        LOG_LEVEL: 'warn',
      };
    },
    config(login, overrides = {}) {
      return loadConfig({ env: this.env(login), overrides });
    },
    async openBeforeOwner(login, service) {
      let waiting!: () => void;
      const isWaiting = new Promise<void>((resolve) => (waiting = resolve));
      const opened = openDatabase(this.config(login), service, {
        health: { add: () => undefined },
        onStop: (_, end) => void ends.push(end),
        logger: { info: (message) => void (/^waiting for the owner role to migrate schema /.test(message) && waiting()) },
      });
      await Promise.race([isWaiting, opened.then(() => Promise.reject(new Error(`${service} started without waiting for the owner`)))]);
      const owner = createPool(this.config('owner').database, `${service}-role-test-owner`);
      ends.push(() => owner.end());
      const { rows } = await owner.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations') AS t`);
      if (rows[0]!.t !== null) throw new Error(`schema_migrations exists before the owner migrated: ${service} created it`);
      await prepareSchema(owner, this.config('owner').database, 'db-migrate', { info: () => undefined });
      return { service: await opened, owner };
    },
    async cleanup() {
      for (const end of ends.splice(0).reverse()) await end();
      const client = new pg.Client({ connectionString: adminUrl('postgres') });
      await client.connect();
      try {
        // pg's Pool.end() resolves before its clients' connections have closed; a FORCE drop meanwhile would end
        // them with an error their pool no longer listens for (an unhandled error in the test run). So wait for
        // them to go, and force only what is still open after that.
        for (let waited = 0; waited < 5000; waited += 50) {
          const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [id]);
          if (rows[0]!.n === 0) break;
          await sleep(50);
        }
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(id)} WITH (FORCE)`);
        // Databases the roles made (the backup's restore drills) must go before the roles can.
        const { rows: made } = await client.query<{ name: string }>('SELECT datname AS name FROM pg_database WHERE pg_get_userbyid(datdba) = ANY($1::text[])', [Object.values(roles)]);
        for (const { name } of made) await client.query(`DROP DATABASE ${pg.escapeIdentifier(name)} WITH (FORCE)`);
        for (const role of Object.values(roles)) await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
      } finally {
        await client.end();
      }
    },
  };
}
