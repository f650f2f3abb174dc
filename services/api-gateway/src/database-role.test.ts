/**
 * The gateway as its own PostgreSQL role (deploy/postgres/roles.sql, database.migrate false), on a database and
 * roles of this test's own: it waits for the owner's migrations and grants without creating anything, then its
 * stores work, while DDL and the tables it does not use are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { PgAlertStore, RuleSchema } from '@terminusa/alerting';
import { createPool, prepareSchema, RESTORING_SETTING, SchemaNotReadyError } from '@terminusa/database';
import { queryHistory, SampleStore, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { createRoleDatabase, freePort, type RoleDatabase } from '@terminusa/testkit';
import { PgAuditLog } from './audit-log.ts';
import { PgUserStore } from './auth/user-store.ts';

const HOUR = 3_600_000;
let rdb: RoleDatabase;
let owner: pg.Pool;
let gateway: pg.Pool;

beforeAll(async () => {
  rdb = createRoleDatabase();
  const run = rdb.runRolesSql();
  expect(run.status, run.stderr).toBe(0);
  // The gateway starts first, as it may in compose or k8s: it waits until the owner (the backup) has started.
  ({ service: gateway, owner } = await rdb.openBeforeOwner('apiGateway', 'api-gateway'));
});
afterAll(async () => {
  await rdb.cleanup();
});

describe('the gateway as its own database role', () => {
  it('is not the owner and no superuser', async () => {
    const { rows } = await gateway.query('SELECT current_user AS role, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user');
    expect(rows).toEqual([{ role: rdb.roles.apiGateway, rolsuper: false, rolcreatedb: false, rolcreaterole: false }]);
  });

  it('runs its users, API keys and audit log', async () => {
    const users = new PgUserStore(gateway);
    try {
      expect(await users.ensureAdmin('admin', 'admin-password-123')).toBe(true);
      const alice = (await users.create('alice', 'alice-password-123', 'viewer'))!;
      expect(await users.update(alice.id, { role: 'operator' })).toMatchObject({ user: { role: 'operator' } });
      expect((await users.list()).map((u) => u.username)).toEqual(['admin', 'alice']);
      const { key, secret } = await users.createApiKey('ci', 'viewer', 'admin');
      expect(await users.verifyApiKey(secret)).toMatchObject({ id: key.id });
      await users.touchApiKeys([key.id]);
      expect(await users.revokeApiKey(key.id)).toBe(true);
      expect(await users.verifyApiKey(secret)).toBeUndefined();
      const audit = new PgAuditLog(gateway);
      await audit.record({ actor: 'admin', action: 'user.create', target: `/users/${alice.id}`, detail: {}, address: '127.0.0.1', requestId: 'r1' });
      expect(await audit.list({ limit: 10 })).toMatchObject([{ actor: 'admin', action: 'user.create' }]);
    } finally {
      await users.close();
    }
  });

  it('reads alert history, and manages rules and silences', async () => {
    const at = Date.now();
    const alert = { id: '6f1c1c52-2f7e-4b8e-9a57-1f2d3c4b5a69', rule: 'Down', severity: 'critical', state: 'firing', labels: { host: 'a' }, value: 0, summary: 's', message: 'm', startsAt: at, firedAt: at, channels: [] } as const;
    // The alert-manager records alerts; the gateway only reads them.
    await new PgAlertStore(owner).record({ ...alert, channels: [] }, { id: 'e1', alertId: alert.id, kind: 'firing', at, detail: {} });
    const store = new PgAlertStore(gateway);
    const { alerts } = await store.history({ from: at - HOUR, to: at + HOUR, limit: 10 });
    expect(alerts.map((a) => [a.id, a.events.length])).toEqual([[alert.id, 1]]);
    const rule = RuleSchema.parse({ name: 'Api', metric: 'up', comparator: '<', threshold: 1, severity: 'warning' });
    expect(await store.saveRule(rule, rule, 'admin')).toBe('created');
    expect((await store.rules()).map((r) => r.rule.name)).toEqual(['Api']);
    expect(await store.deleteRule('Api')).toBe('deleted');
    // Logged for the incremental backups by the owner's trigger, with no grant of the log to this role.
    const { rows: logged } = await owner.query('SELECT table_name, key FROM row_deletions');
    expect(logged).toEqual([{ table_name: 'alert_rules', key: { name: 'Api' } }]);
    await expect(gateway.query('SELECT 1 FROM row_deletions')).rejects.toThrow(/permission denied for table row_deletions/);
    // The setting a restore's replay uses is any role's to set, so it is heard only from the owner.
    expect(await store.saveRule(rule, rule, 'admin')).toBe('created');
    const client = await gateway.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ${RESTORING_SETTING} = 'on'`);
      await client.query('DELETE FROM alert_rules WHERE name = $1', ['Api']);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const { rows: loggedAgain } = await owner.query('SELECT table_name, key FROM row_deletions ORDER BY id');
    expect(loggedAgain).toEqual([{ table_name: 'alert_rules', key: { name: 'Api' } }, { table_name: 'alert_rules', key: { name: 'Api' } }]);
    await store.addSilence({ id: '0b7e6f0e-9a3b-4d1e-8c2f-5a6b7c8d9e0f', matchers: [{ tag: 'host', op: '=', value: 'a' }], startsAt: at, endsAt: at + HOUR, comment: 'maintenance', createdBy: 'admin' });
    expect((await store.silences(at)).map((s) => s.comment)).toEqual(['maintenance']);
    expect(await store.expireSilence('0b7e6f0e-9a3b-4d1e-8c2f-5a6b7c8d9e0f', at + 1)).toBe(true);
  });

  it('reads series names and history from the rollup tiers', async () => {
    const bucket = Math.floor((Date.now() - 3 * 24 * HOUR) / HOUR) * HOUR;
    const { rows } = await owner.query<{ id: string }>(`INSERT INTO series (key, name, tags) VALUES ('role_test{}', 'role_test', '{}') RETURNING id`);
    await owner.query(`INSERT INTO rollup_1h VALUES ($1, to_timestamp($2 / 1000.0), 2, 10, 4, 6, 6, to_timestamp($2 / 1000.0))`, [rows[0]!.id, bucket]);
    const config = rdb.config('apiGateway');
    const engine = new VictoriaMetrics(config.storage.engine);
    expect(await new SampleStore(gateway, engine).names()).toContain('role_test');
    const answer = await queryHistory({ pool: gateway, engine }, { name: 'role_test', tags: {}, from: bucket - HOUR, to: bucket + HOUR, step: HOUR, maxPoints: 100, retention: { ...tierRetentionMs(config), raw: 0, '1m': 0, '5m': 0 } });
    expect(answer.series.flatMap((s) => s.points)).toEqual([[bucket, 5, 4, 6]]);
  });

  it('may not change the schema, nor touch a table it does not use', async () => {
    await expect(gateway.query('CREATE TABLE gateway_own (a int)')).rejects.toThrow(/permission denied for schema public/);
    await expect(gateway.query('CREATE TEMP TABLE gateway_temp (a int)')).rejects.toThrow(/permission denied to create temporary tables/);
    await expect(gateway.query('DROP TABLE users')).rejects.toThrow(/must be owner of table users/);
    await expect(gateway.query('TRUNCATE users')).rejects.toThrow(/permission denied for table users/);
    await expect(gateway.query('ALTER TABLE audit_log ADD COLUMN x int')).rejects.toThrow(/must be owner of table audit_log/);
    await expect(gateway.query('DELETE FROM audit_log')).rejects.toThrow(/permission denied for table audit_log/);
    await expect(gateway.query('DELETE FROM rollup_dirty')).rejects.toThrow(/permission denied for table rollup_dirty/);
    await expect(gateway.query(`INSERT INTO alerts (id, rule, severity, state, summary, message, labels, created_at) VALUES (gen_random_uuid(), 'r', 'info', 'firing', '', '', '{}', now())`)).rejects.toThrow(/permission denied for table alerts/);
    await expect(gateway.query('CREATE SCHEMA gateway_schema')).rejects.toThrow(/permission denied for database/);
  });

  it('waits for a PostgreSQL that does not answer yet as for the owner’s schema, not failing at once (a restart of both)', async () => {
    const port = await freePort();
    const settings = { ...rdb.config('apiGateway').database, url: `postgres://nobody@127.0.0.1:${port}/nothing`, migrationTimeout: 1 };
    const pool = createPool(settings, 'gateway-role-test-unreachable');
    try {
      const failed = prepareSchema(pool, settings, 'api-gateway', { info: () => undefined });
      await expect(failed).rejects.toBeInstanceOf(SchemaNotReadyError);
      await expect(failed).rejects.toThrow(/not ready after 1 s: PostgreSQL is not reachable yet \(.*ECONNREFUSED/);
    } finally {
      await pool.end();
    }
  });

  it('gives up with a clear error when no owner migrates within database.migrationTimeout', async () => {
    const other = createRoleDatabase();
    try {
      const run = other.runRolesSql();
      expect(run.status, run.stderr).toBe(0);
      const pool = createPool(other.config('apiGateway').database, 'gateway-role-test-timeout');
      try {
        const settings = other.config('apiGateway', { database: { migrationTimeout: 1 } }).database;
        const failed = prepareSchema(pool, settings, 'api-gateway', { info: () => undefined });
        await expect(failed).rejects.toBeInstanceOf(SchemaNotReadyError);
        await expect(failed).rejects.toThrow(/^schema public not ready after 1 s: no schema_migrations table yet\. This service does not migrate/);
      } finally {
        await pool.end();
      }
    } finally {
      await other.cleanup();
    }
  });
});
