import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase } from '@terminusa/testkit';
import { PgAlertStore } from './pg-alert-store.ts';

let pool: pg.Pool;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ pool, cleanup } = await createTestDatabase());
});
afterAll(() => cleanup?.());

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
