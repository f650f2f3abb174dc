import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createPool, migrate } from '@terminusa/database';
import { foldRollups, PartitionManager, PgSampleStore, tierRetentionMs } from '@terminusa/metric-store';
import { createTestNamespace, type TestNamespace } from '@terminusa/testkit';
import { ArchiveIndex } from './archive/archive-index.ts';
import { loadArchive } from './archive/archive-partition.ts';
import { applyRetention } from './retention/apply-retention.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let ns: TestNamespace;
let pool: pg.Pool;
let partitions: PartitionManager;
let store: PgSampleStore;

beforeAll(async () => {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'storage-test');
  await migrate(pool, ns.config.database.schema);
  partitions = new PartitionManager(pool);
  store = new PgSampleStore(pool);
});
afterAll(async () => {
  await pool.end();
  await ns.cleanup();
});

/** Per series and bucket, count/sum/min/max/last straight from the raw samples. */
async function fromRaw(width: string, name: string) {
  const { rows } = await pool.query(
    `SELECT s.series_id, date_bin($1::interval, s.ts, 'epoch') AS bucket, count(*)::int AS count, sum(value) AS sum, min(value) AS min, max(value) AS max,
            (array_agg(value ORDER BY ts DESC))[1] AS last
       FROM samples s JOIN series se ON se.id = s.series_id WHERE se.name = $2 GROUP BY 1, 2 ORDER BY 1, 2`,
    [width, name],
  );
  return rows.map((r) => ({ ...r, bucket: r.bucket.toISOString() }));
}
async function fromTier(tier: string, name: string) {
  const { rows } = await pool.query(
    `SELECT r.series_id, r.bucket, r.count::int AS count, r.sum, r.min, r.max, r.last FROM rollup_${tier} r JOIN series se ON se.id = r.series_id WHERE se.name = $1 ORDER BY 1, 2`,
    [name],
  );
  return rows.map((r) => ({ ...r, bucket: r.bucket.toISOString() }));
}

describe('rollups', () => {
  it('fold every sample once into every tier, late samples included', async () => {
    const now = Date.now();
    const samples = Array.from({ length: 900 }, (_, i) => ({ name: 'fold_metric', value: (i * 7) % 13, ts: now - 3 * HOUR + i * 11_000, tags: { s: String(i % 3) } }));
    await store.insert(samples);
    expect(await foldRollups(pool, partitions)).toBe(900);
    expect(await foldRollups(pool, partitions)).toBe(0);
    // Late samples, older than what was folded, after the fold.
    await store.insert(Array.from({ length: 50 }, (_, i) => ({ name: 'fold_metric', value: 100 + i, ts: now - 5 * HOUR + i * 1000, tags: { s: String(i % 3) } })));
    expect(await foldRollups(pool, partitions)).toBe(50);
    for (const [tier, width] of [['1m', '1 minute'], ['5m', '5 minutes'], ['1h', '1 hour'], ['1d', '1 day']]) {
      expect(await fromTier(tier!, 'fold_metric'), tier).toEqual(await fromRaw(width!, 'fold_metric'));
    }
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM rollup_pending');
    expect(rows[0].n).toBe(0);
  });
});

describe('retention and the archive', () => {
  it('archives, then drops, partitions past retention; a range loads back equal; nothing is archived twice', async () => {
    const now = Date.now();
    const old = now - 3 * DAY;
    await store.insert(Array.from({ length: 500 }, (_, i) => ({ name: 'old_metric', value: i, ts: old + i * 1000, tags: { k: String(i % 5) } })));
    await store.insert([{ name: 'fresh_metric', value: 1, ts: now - 1000, tags: {} }]);
    await foldRollups(pool, partitions);
    const snapshot = async () =>
      (await pool.query("SELECT s.series_id, s.ts, s.value FROM samples s JOIN series se ON se.id = s.series_id WHERE se.name = 'old_metric' ORDER BY 1, 2")).rows.map((r) => `${r.series_id}|${r.ts.toISOString()}|${r.value}`);
    const before = await snapshot();
    expect(before).toHaveLength(500);
    // Raw samples are archived and loaded back as the blocks they are stored in (a series' samples in a minute).
    const blocks = (await pool.query("SELECT count(*)::int AS n FROM sample_blocks b JOIN series se ON se.id = b.series_id WHERE se.name = 'old_metric'")).rows[0].n;
    expect(blocks).toBeLessThan(500);

    const index = new ArchiveIndex(join(ns.env.DATA_DIR!, 'archive'));
    const retention = tierRetentionMs(ns.config);
    const report = await applyRetention(pool, partitions, index, retention, now);
    expect(report.dropped.some((p) => p.startsWith('sample_blocks_p'))).toBe(true);
    expect(await snapshot()).toEqual([]);
    const fresh = await pool.query("SELECT count(*)::int AS n FROM samples s JOIN series se ON se.id = s.series_id WHERE se.name = 'fresh_metric'");
    expect(fresh.rows[0].n).toBe(1);
    const entries = await index.entries();
    const raw = entries.filter((e) => e.tier === 'raw');
    expect(raw.reduce((n, e) => n + e.rows, 0)).toBe(blocks);
    expect((await readdir(join(ns.env.DATA_DIR!, 'archive', 'raw'))).filter((f) => f.endsWith('.tsv.gz'))).toHaveLength(raw.length);
    // The 1m tier (2 h retention) of that day went to the archive too.
    expect(entries.some((e) => e.tier === '1m')).toBe(true);

    expect(await loadArchive(pool, index, 'raw', old - HOUR, old + HOUR)).toBe(blocks);
    expect(await snapshot()).toEqual(before);
    expect(await loadArchive(pool, index, 'raw', old - HOUR, old + HOUR)).toBe(0);

    const again = await applyRetention(pool, partitions, index, retention, now);
    expect(again.deletedFromDefault + again.dropped.length).toBeGreaterThan(0);
    expect(await snapshot()).toEqual([]);
    expect((await index.entries()).filter((e) => e.tier === 'raw')).toHaveLength(raw.length);
  });
});
