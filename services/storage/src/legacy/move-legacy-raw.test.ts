import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { migrate } from '@terminusa/database';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { createTestDatabase, QUICK_SYNC, type TestNamespace } from '@terminusa/testkit';
import { moveLegacyRaw } from './move-legacy-raw.ts';

let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let engine: VictoriaMetrics;

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ overrides: QUICK_SYNC, migrate: false }));
  engine = new VictoriaMetrics(ns.config.storage.engine);
});
afterAll(() => cleanup?.());

describe('tmon-storage move-raw', () => {
  it('moves the raw samples an installation kept in PostgreSQL into the engine, once, then drops them', async () => {
    // An installation at schema version 9: two series, 300 samples in blocks (as that version wrote them).
    await migrate(pool, ns.config.database.schema, 9);
    const t0 = Date.UTC(2026, 10, 30, 12);
    await pool.query(`INSERT INTO series (key, name, tags) VALUES ('legacy_metric{host="a"}', 'legacy_metric', '{"host":"a"}'), ('legacy_metric{host="b"}', 'legacy_metric', '{"host":"b"}')`);
    await pool.query(
      `INSERT INTO samples (series_id, ts, value)
       SELECT s.id, to_timestamp(($1::bigint + i * 1000) / 1000.0), i * 0.5 FROM series s, generate_series(0, 149) i`,
      [t0],
    );
    await migrate(pool, ns.config.database.schema);
    expect((await pool.query('SELECT count(*)::int AS n FROM legacy_sample_blocks')).rows[0].n).toBeGreaterThan(0);

    const report = await moveLegacyRaw(pool, engine);
    expect(report.samples).toBe(300);
    const moved = await engine.exportAll('{__name__="legacy_metric"}', t0, t0 + 3_600_000);
    expect(moved.map((s) => s.labels.host).sort()).toEqual(['a', 'b']);
    for (const s of moved) {
      expect(s.timestamps).toEqual(Array.from({ length: 150 }, (_, i) => t0 + i * 1000));
      expect(s.values).toEqual(Array.from({ length: 150 }, (_, i) => i * 0.5));
    }
    expect((await pool.query("SELECT to_regclass('legacy_sample_blocks') AS t")).rows[0].t).toBeNull();
    // Run again (a move cut short is simply repeated): nothing left to move, nothing doubled.
    expect(await moveLegacyRaw(pool, engine)).toEqual({ blocks: 0, samples: 0 });
    expect((await engine.exportAll('{__name__="legacy_metric"}', t0, t0 + 3_600_000)).flatMap((s) => s.values)).toHaveLength(300);
  });
});
