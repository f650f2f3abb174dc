import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, type TestNamespace } from '@terminusa/testkit';
import { BackupOperations } from '../backup-operations.ts';

let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ applicationName: 'prune-unreadable-test' }));
  await pool.query(`INSERT INTO series (key, name, tags) SELECT 'prune_metric{k="' || g || '"}', 'prune_metric', jsonb_build_object('k', g::text) FROM generate_series(0, 9) g`);
});
afterAll(() => cleanup?.());

describe('retention with a backup whose manifest is unreadable', () => {
  it('keeps the full a kept incremental builds on through an incremental whose manifest no longer verifies', async () => {
    const ops = new BackupOperations(ns.config, pool);
    const at = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000);
    const full = (await ops.run('full', false, at(120))).manifest;
    await pool.query(`INSERT INTO series (key, name, tags) VALUES ('prune_metric{k="a"}', 'prune_metric', '{"k":"a"}')`);
    const middle = (await ops.run('incremental', false, at(40))).manifest;
    await pool.query(`INSERT INTO series (key, name, tags) VALUES ('prune_metric{k="b"}', 'prune_metric', '{"k":"b"}')`);
    const newest = (await ops.run('incremental', false, at(5))).manifest;
    expect([middle.previous, newest.previous]).toEqual([full.id, middle.id]);

    // One changed byte: the middle manifest's signature no longer matches, so its `previous` cannot be trusted.
    const path = join(ops.paths.backupsDir, middle.id, 'manifest.json');
    await writeFile(path, (await readFile(path, 'utf8')).replace('"incremental"', '"incrementaL"'));
    expect((await ops.list()).find((b) => b.id === middle.id)?.damaged).toContain('signature-invalid');

    expect(await ops.prune()).toEqual([]);
    expect((await readdir(ops.paths.backupsDir)).filter((n) => !n.startsWith('.')).sort()).toEqual([full.id, middle.id, newest.id]);
  });
});
