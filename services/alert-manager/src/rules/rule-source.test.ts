import { afterEach, describe, expect, it } from 'vitest';
import { PgAlertStore, RuleSchema } from '@terminusa/alerting';
import { createLogger } from '@terminusa/runtime';
import { createTestDatabase, type TestDatabase } from '@terminusa/testkit';
import { RuleSource } from './rule-source.ts';

let db: TestDatabase | undefined;
afterEach(async () => {
  await db?.cleanup();
  db = undefined;
});

/** A rule source without a rules file, which is all the bus would be used for. */
function source(store: PgAlertStore): RuleSource {
  return new RuleSource(store, undefined as never, createLogger({ ...db!.ns.config.log, level: 'error' }, { service: 'alert-manager', instance: 'rule-source-test' }), undefined, 60_000);
}

describe('the rule source', () => {
  it('starts with the stored rules in force', async () => {
    db = await createTestDatabase({ applicationName: 'rule-source-test' });
    const store = new PgAlertStore(db.pool);
    const input = { name: 'Hot', metric: 'cpu', comparator: '>', threshold: 90, severity: 'warning', channels: ['webhook'] };
    await store.saveRule(RuleSchema.parse(input), input, 'test');
    const rules = source(store);
    await rules.start();
    rules.stop();
    expect(rules.rules.rule('Hot')?.name).toBe('Hot');
  });

  it('keeps the rules of the newest load when an older one finishes after it (a deleted rule does not come back)', async () => {
    db = await createTestDatabase({ applicationName: 'rule-source-test' });
    const store = new PgAlertStore(db.pool);
    const input = { name: 'Gone', metric: 'cpu', comparator: '>', threshold: 90, severity: 'warning', channels: ['webhook'] };
    await store.saveRule(RuleSchema.parse(input), input, 'test');
    // The first load's answer, read while the rule was there, arrives only after a later load's.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    const slowFirst = Object.create(store) as PgAlertStore;
    slowFirst.rules = async (unusable) => {
      const rules = await store.rules(unusable);
      if (++reads === 1) await held;
      return rules;
    };
    const rules = source(slowFirst);
    const older = rules.reload();
    await expect.poll(() => reads).toBe(1);
    expect(await store.deleteRule('Gone')).toBe('deleted');
    await rules.reload();
    expect(rules.rules.rule('Gone')).toBeUndefined();
    release();
    await older;
    expect(rules.rules.rule('Gone')).toBeUndefined();
  });

  it('refuses to start when the rules cannot be loaded, rather than run with none (every alert would be resolved)', async () => {
    // The schema's tables are not there: every read of the rules fails.
    db = await createTestDatabase({ applicationName: 'rule-source-test', migrate: false });
    const rules = source(new PgAlertStore(db.pool));
    await expect(rules.start()).rejects.toThrow(/alert_rules/);
    rules.stop();
  });
});
