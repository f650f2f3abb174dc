import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Alert } from '@terminusa/bus';
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

describe('alert history', () => {
  const at = Date.now();
  const alert = (id: string, state: 'firing' | 'resolved'): Alert =>
    ({ id, rule: 'Storm', severity: 'warning', state, labels: { host: id }, value: 1, summary: 's', message: 'm', startsAt: at, firedAt: at, ...(state === 'resolved' ? { resolvedAt: at + 1 } : {}), channels: [] });
  const ids = ['00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000a'];

  it('records a batch in order per alert, in one transaction, and a replayed batch adds nothing', async () => {
    const store = new PgAlertStore(pool);
    const batch = [
      { alert: alert(ids[0]!, 'firing'), event: { id: `${ids[0]}:1`, alertId: ids[0]!, kind: 'firing' as const, at, detail: {} } },
      { alert: alert(ids[1]!, 'firing'), event: { id: `${ids[1]}:1`, alertId: ids[1]!, kind: 'firing' as const, at, detail: {} } },
      { alert: alert(ids[0]!, 'resolved'), event: { id: `${ids[0]}:2`, alertId: ids[0]!, kind: 'resolved' as const, at: at + 1, detail: {} } },
    ];
    await store.recordAll(batch);
    await store.recordAll(batch);
    const { alerts } = await store.history({ from: at - 1000, to: at + 1000, rule: 'Storm', limit: 10 });
    const byId = Object.fromEntries(alerts.map((a) => [a.id, [a.state, a.events.map((e) => e.kind)]]));
    expect(byId).toEqual({ [ids[0]!]: ['resolved', ['firing', 'resolved']], [ids[1]!]: ['firing', ['firing']] });
  });

  it('records none of a batch when one of it fails', async () => {
    const store = new PgAlertStore(pool);
    const id = '00000000-0000-4000-8000-00000000000c';
    const good = { alert: alert(id, 'firing'), event: { id: `${id}:1`, alertId: id, kind: 'firing' as const, at, detail: {} } };
    // An alert id the column refuses: the whole batch rolls back and is relayed again later.
    const bad = { alert: alert('not-a-uuid', 'firing'), event: { id: 'not-a-uuid:1', alertId: 'not-a-uuid', kind: 'firing' as const, at, detail: {} } };
    await expect(store.recordAll([good, bad])).rejects.toThrow();
    expect((await pool.query('SELECT count(*)::int AS n FROM alerts WHERE id = $1', [id])).rows[0].n).toBe(0);
  });

  it('keeps an ended alert ended when an older event of it is recorded after (a batch retried after a later one)', async () => {
    const store = new PgAlertStore(pool);
    const id = '00000000-0000-4000-8000-00000000000d';
    const pending = { ...alert(id, 'firing'), state: 'pending' as const };
    const inactive = { ...alert(id, 'firing'), state: 'inactive' as const };
    await store.recordAll([{ alert: inactive, event: { id: `${id}:2`, alertId: id, kind: 'inactive' as const, at: at + 1, detail: {} } }]);
    await store.recordAll([{ alert: pending, event: { id: `${id}:1`, alertId: id, kind: 'pending' as const, at, detail: {} } }]);
    const { alerts } = await store.history({ from: at - 1000, to: at + 1000, rule: 'Storm', limit: 10 });
    expect(alerts.find((a) => a.id === id)?.state).toBe('inactive');
  });
});
