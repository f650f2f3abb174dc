/**
 * The alert-manager as its own PostgreSQL role (deploy/postgres/roles.sql, database.migrate false), on a database
 * and roles of this test's own: its alert store works, while DDL and the tables it does not use are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { PgAlertStore, RuleSchema } from '@terminusa/alerting';
import { createPool, openDatabase, prepareSchema } from '@terminusa/database';
import { createRoleDatabase, type RoleDatabase } from '@terminusa/testkit';

let rdb: RoleDatabase;
let owner: pg.Pool;
let alertManager: pg.Pool;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  rdb = createRoleDatabase();
  const run = rdb.runRolesSql();
  expect(run.status, run.stderr).toBe(0);
  owner = createPool(rdb.config('owner').database, 'alert-manager-role-test-owner');
  await prepareSchema(owner, rdb.config('owner').database, 'storage', { info: () => undefined });
  const lines: string[] = [];
  alertManager = await openDatabase(rdb.config('alertManager'), 'alert-manager', {
    health: { add: () => undefined },
    onStop: (_, stop) => void stops.push(stop),
    logger: { info: (message) => void lines.push(message) },
  });
  // Migrated and granted already: it started without waiting.
  expect(lines).toEqual([]);
});
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await owner?.end();
  await rdb.cleanup();
});

describe('the alert-manager as its own database role', () => {
  it('is not the owner and no superuser', async () => {
    const { rows } = await alertManager.query('SELECT current_user AS role, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user');
    expect(rows).toEqual([{ role: rdb.roles.alertManager, rolsuper: false, rolcreatedb: false, rolcreaterole: false }]);
  });

  it('records alerts and their events, syncs the file rules and reads rules and silences', async () => {
    const store = new PgAlertStore(alertManager);
    const at = Date.now();
    const alert = { id: '3d0a4c1e-8b2f-4e6a-9c7d-2b1a0f9e8d7c', rule: 'Down', severity: 'critical', state: 'firing', labels: { host: 'a' }, value: 0, summary: 's', message: 'm', startsAt: at, firedAt: at, channels: [] } as const;
    await store.record({ ...alert, channels: [] }, { id: 'e1', alertId: alert.id, kind: 'firing', at, detail: {} });
    // A replayed transition updates the alert and ignores the event it recorded before.
    await store.record({ ...alert, state: 'resolved', resolvedAt: at + 1, channels: [] }, { id: 'e1', alertId: alert.id, kind: 'firing', at, detail: {} });
    await store.addEvent({ id: 'e2', alertId: alert.id, kind: 'notified', at: at + 2, detail: { channel: 'dashboard' } });
    const { alerts } = await new PgAlertStore(owner).history({ from: at - 1000, to: at + 1000, limit: 10 });
    expect(alerts.map((a) => [a.state, a.events.map((e) => e.id)])).toEqual([['resolved', ['e1', 'e2']]]);

    const rule = (name: string) => {
      const input = { name, metric: 'up', comparator: '<', threshold: 1, severity: 'warning' };
      return { rule: RuleSchema.parse(input), input };
    };
    await store.syncFileRules('rules.yaml', [rule('A'), rule('B')]);
    await store.syncFileRules('rules.yaml', [rule('B')]);
    expect((await store.rules()).map((r) => [r.rule.name, r.source])).toEqual([['B', 'file']]);

    await new PgAlertStore(owner).addSilence({ id: '5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716', matchers: [], startsAt: at, endsAt: at + 60_000, comment: 'quiet', createdBy: 'admin' });
    expect((await store.silences(at)).map((s) => s.comment)).toEqual(['quiet']);
  });

  it('may not change the schema, nor touch a table it does not use', async () => {
    await expect(alertManager.query('CREATE TABLE alert_manager_own (a int)')).rejects.toThrow(/permission denied for schema public/);
    await expect(alertManager.query('DROP TABLE alerts')).rejects.toThrow(/must be owner of table alerts/);
    await expect(alertManager.query('TRUNCATE alert_events')).rejects.toThrow(/permission denied for table alert_events/);
    await expect(alertManager.query('DELETE FROM alerts')).rejects.toThrow(/permission denied for table alerts/);
    // Silences are made through the gateway; the alert-manager only reads them.
    await expect(alertManager.query(`UPDATE silences SET comment = ''`)).rejects.toThrow(/permission denied for table silences/);
    for (const table of ['users', 'api_keys', 'audit_log', 'series', 'rollup_1m', 'rollup_watermarks']) {
      await expect(alertManager.query(`SELECT * FROM ${table}`), table).rejects.toThrow(new RegExp(`permission denied for table ${table}`));
    }
  });
});
