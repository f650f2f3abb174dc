import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createPool, migrate } from '@terminusa/database';
import { createTestNamespace, type TestNamespace } from '@terminusa/testkit';
import { PgAlertStore } from './pg-alert-store.ts';

let ns: TestNamespace;
let pool: pg.Pool;

beforeAll(async () => {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'test');
  await migrate(pool, ns.config.database.schema);
});
afterAll(async () => {
  await pool.end();
  await ns.cleanup();
});

describe('stored rules', () => {
  it('that today’s schema refuses (a regex only a backtracking engine runs) are left out and reported, the others load', async () => {
    const good = { name: 'Good', metric: 'up', comparator: '<', threshold: 1, severity: 'critical' };
    const stale = { name: 'Stale', metric: 'up', matchers: [{ tag: 'host', op: '=~', value: '(?=web).*' }], comparator: '<', threshold: 1, severity: 'critical' };
    for (const rule of [good, stale]) await pool.query(`INSERT INTO alert_rules (name, definition, source, updated_by) VALUES ($1, $2, 'api', 'admin')`, [rule.name, JSON.stringify(rule)]);
    const unusable: string[] = [];
    const rules = await new PgAlertStore(pool).rules((name, reason) => unusable.push(`${name}: ${reason}`));
    expect(rules.map((r) => r.rule.name)).toEqual(['Good']);
    expect(unusable).toEqual([expect.stringMatching(/^Stale: matchers\[0\]\.value: .*lookahead/)]);
  });
});
