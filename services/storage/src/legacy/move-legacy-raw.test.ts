import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { migrate } from '@terminusa/database';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { createTestDatabase, QUICK_SYNC, type TestNamespace } from '@terminusa/testkit';
import { ArchiveIndex } from '../archive/archive-index.ts';
import { loadRawArchive } from '../archive/archive-raw.ts';
import { moveKeepFrom, moveLegacyRaw } from './move-legacy-raw.ts';

const HOUR = 3_600_000;
let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let engine: VictoriaMetrics;
let archiveDir: string;

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ overrides: QUICK_SYNC, migrate: false }));
  engine = new VictoriaMetrics(ns.config.storage.engine);
  archiveDir = await mkdtemp(join(tmpdir(), 'tmon-legacy-archive-'));
});
afterAll(async () => {
  await cleanup?.();
  await rm(archiveDir, { recursive: true, force: true });
});

const valuesOf = async (from: number, to: number) =>
  Object.fromEntries((await engine.exportAll('{__name__="legacy_metric"}', from, to)).map((s) => [s.labels.host!, s.timestamps.map((t, i) => [t, s.values[i]])]));

describe('tmon-storage move-raw', () => {
  it('moves the raw samples an installation kept in PostgreSQL into the engine, those older than it keeps into the archive, once, then drops them', async () => {
    // An installation at schema version 9: two series, 150 samples each in blocks (as that version wrote them), 100
    // of them an hour ago and 50 three days ago, older than an engine of two days' retention keeps.
    await migrate(pool, ns.config.database.schema, 9);
    const now = Date.now();
    const recent = Math.floor((now - HOUR) / 60_000) * 60_000;
    const old = Math.floor((now - 3 * 86_400_000) / HOUR) * HOUR;
    await pool.query(`INSERT INTO series (key, name, tags) VALUES ('legacy_metric{host="a"}', 'legacy_metric', '{"host":"a"}'), ('legacy_metric{host="b"}', 'legacy_metric', '{"host":"b"}')`);
    await pool.query(
      `INSERT INTO samples (series_id, ts, value)
       SELECT s.id, to_timestamp((CASE WHEN i < 100 THEN $1::bigint + i * 1000 ELSE $2::bigint + i * 1000 END) / 1000.0), i * 0.5 FROM series s, generate_series(0, 149) i`,
      [recent, old],
    );
    await migrate(pool, ns.config.database.schema);
    expect((await pool.query('SELECT count(*)::int AS n FROM legacy_sample_blocks')).rows[0].n).toBeGreaterThan(0);

    const archive = new ArchiveIndex(archiveDir);
    const targets = { engine, archive, keepFrom: moveKeepFrom(2 * 86_400_000, now) };
    const report = await moveLegacyRaw(pool, targets);
    expect(report).toMatchObject({ samples: 200, archived: 100 });
    const expected = (from: number, i0: number, n: number) => Array.from({ length: n }, (_, k) => [from + (i0 + k) * 1000, (i0 + k) * 0.5]);
    expect(await valuesOf(recent, recent + HOUR)).toEqual({ a: expected(recent, 0, 100), b: expected(recent, 0, 100) });
    // The old hours went to the archive, not to the engine (which would have dropped them), and load back from there.
    expect(await valuesOf(old, old + 2 * HOUR)).toEqual({});
    expect((await archive.entries()).map((e) => [e.tier, e.from, e.rows, e.file.endsWith('.legacy.jsonl')])).toEqual([['raw', old, 100, true]]);
    expect(await loadRawArchive(engine, archive, old, old + HOUR)).toBe(100);
    expect(await valuesOf(old, old + 2 * HOUR)).toEqual({ a: expected(old, 100, 50), b: expected(old, 100, 50) });
    expect((await pool.query("SELECT to_regclass('legacy_sample_blocks') AS t")).rows[0].t).toBeNull();
    // Run again (a move cut short is simply repeated): nothing left to move, nothing doubled.
    expect(await moveLegacyRaw(pool, targets)).toEqual({ blocks: 0, samples: 0, archived: 0 });
    expect((await engine.exportAll('{__name__="legacy_metric"}', old, now)).flatMap((s) => s.values)).toHaveLength(300);
  });
});
