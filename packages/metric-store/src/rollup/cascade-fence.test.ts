import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestDatabase, QUICK_SYNC, type TestNamespace } from '@terminusa/testkit';
import { VictoriaMetrics } from '../engine/victoria-metrics.ts';
import { PartitionManager } from '../partitions.ts';
import { SeriesIds } from '../series-ids.ts';
import { computeRollups } from './compute-rollups.ts';
import { readWatermarks } from './watermarks.ts';

const MINUTE = 60_000;
let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ overrides: QUICK_SYNC, applicationName: 'cascade-fence-test' }));
});
afterAll(() => cleanup?.());

describe('the 5m cascade', () => {
  it('stops at a minute the 1m watermark passed that is not computed yet, whoever moved the watermark', async () => {
    const roll = (now: number) => computeRollups({ pool, engine: new VictoriaMetrics(ns.config.storage.engine), partitions: new PartitionManager(pool), series: new SeriesIds(pool), settleMs: 0, rawRetentionMs: 86_400_000, now });
    const start = (await readWatermarks(pool))['5m'];
    // Another run (one that took the lock this run lost) moved the 1m watermark 30 minutes on and marked the minutes
    // it passed; one of them, 12 minutes in, is not computed yet (its mark not due: that run is still at it).
    const pending = start + 12 * MINUTE;
    await pool.query("UPDATE rollup_watermarks SET until = $1 WHERE tier = '1m'", [new Date(start + 30 * MINUTE)]);
    await pool.query("INSERT INTO rollup_dirty (name, minute, marked_at) VALUES ('', $1, now() + interval '1 hour')", [new Date(pending)]);
    await roll(start + 31 * MINUTE);
    const marks = await readWatermarks(pool);
    expect(marks['1m']).toBe(start + 31 * MINUTE);
    expect(marks['5m']).toBe(start + 10 * MINUTE);
    // Computed at last, the cascade goes on.
    await pool.query("DELETE FROM rollup_dirty WHERE name = ''");
    await roll(start + 31 * MINUTE);
    expect((await readWatermarks(pool))['5m']).toBe(start + 30 * MINUTE);
  });
});
