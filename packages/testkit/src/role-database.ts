import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig, type Config } from '@terminusa/config';
import { TEST_SERVERS } from './test-namespace.ts';

/** deploy/postgres/roles.sql, which the compose postgres-bootstrap runs. */
export const ROLES_SQL = join(import.meta.dirname, '..', '..', '..', 'deploy', 'postgres', 'roles.sql');

/** Who logs in: the owner role (backup) or a restricted service's own role. */
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
  /** The configuration of a service logging in as `login` (the owner migrates; the others wait for it). */
  config(login: RoleLogin, overrides?: Record<string, unknown>): Readonly<Config>;
  /** Drops the database and the roles. */
  cleanup(): Promise<void>;
}

const PASSWORD_VARIABLES: Record<RoleLogin, string> = {
  owner: 'DATABASE_PASSWORD',
  apiGateway: 'GATEWAY_DATABASE_PASSWORD',
  alertManager: 'ALERT_MANAGER_DATABASE_PASSWORD',
  storage: 'STORAGE_DATABASE_PASSWORD',
};
const ROLE_VARIABLES: Record<RoleLogin, string> = { owner: 'role', apiGateway: 'gateway_role', alertManager: 'alert_manager_role', storage: 'storage_role' };

/** The default password of each login in a test. */
export const TEST_ROLE_PASSWORDS: Readonly<Record<RoleLogin, string>> = { owner: 'owner-pw-0123456789', apiGateway: 'gateway-pw-0123456789', alertManager: 'alert-pw-0123456789', storage: 'storage-pw-0123456789' };

/** A URL of the test server as the superuser, on database `db`. */
const adminUrl = (db: string) => Object.assign(new URL(TEST_SERVERS.databaseUrl), { pathname: `/${db}` }).toString();

/** Names a database and four roles for one test; nothing is made until runRolesSql. */
export function createRoleDatabase(): RoleDatabase {
  const id = `tmon_rdb_${randomBytes(4).toString('hex')}`;
  const roles = { owner: `${id}_owner`, apiGateway: `${id}_gw`, alertManager: `${id}_am`, storage: `${id}_st` };
  return {
    db: id,
    roles,
    runRolesSql(passwords = TEST_ROLE_PASSWORDS) {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
      for (const [login, password] of Object.entries(passwords) as [RoleLogin, string][]) env[PASSWORD_VARIABLES[login]] = password;
      const variables = (Object.keys(roles) as RoleLogin[]).flatMap((login) => ['-v', `${ROLE_VARIABLES[login]}=${roles[login]}`]);
      return spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...variables, '-v', `db=${id}`, '-f', ROLES_SQL, adminUrl('postgres')], { env, encoding: 'utf8' });
    },
    config(login, overrides = {}) {
      const url = Object.assign(new URL(adminUrl(id)), { username: roles[login], password: '' }).toString();
      return loadConfig({
        env: {
          DATABASE_URL: url,
          DATABASE_PASSWORD: TEST_ROLE_PASSWORDS[login],
          TMON_DATABASE__MIGRATE: String(login === 'owner'),
          TMON_DATABASE__ROLES: JSON.stringify({ apiGateway: roles.apiGateway, alertManager: roles.alertManager, storage: roles.storage }),
          VM_URL: TEST_SERVERS.vmUrl,
          VM_NAMESPACE: id,
          LOG_LEVEL: 'warn',
        },
        overrides,
      });
    },
    async cleanup() {
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
        for (const role of Object.values(roles)) await client.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
      } finally {
        await client.end();
      }
    },
  };
}
