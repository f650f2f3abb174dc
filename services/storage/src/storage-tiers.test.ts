import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Sample } from '@terminusa/bus';
import { computeRollups, PartitionManager, SampleStore, SeriesIds, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { createTestDatabase, QUICK_SYNC, startEngineProcess, type EngineProcess, type TestNamespace } from '@terminusa/testkit';
import { ArchiveIndex } from './archive/archive-index.ts';
import { archiveRawHours, loadRawArchive } from './archive/archive-raw.ts';
import { applyRetention } from './retention/apply-retention.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;
let engine: VictoriaMetrics;
let partitions: PartitionManager;
let store: SampleStore;

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ overrides: QUICK_SYNC, applicationName: 'storage-test' }));
  engine = new VictoriaMetrics(ns.config.storage.engine);
  partitions = new PartitionManager(pool);
  store = new SampleStore(pool, engine);
});
afterAll(() => cleanup?.());

// Rows written a few at a time, as a large fleet's are: each write its own transaction, mid-window too.
const rollUp = () => computeRollups({ pool, engine, partitions, series: new SeriesIds(pool), settleMs: 0, rawRetentionMs: DAY, rowsPerWrite: 7 });

/** Per series (its `s` tag) and bucket, count/sum/min/max/last straight from the samples written. */
function fromSamples(width: number, samples: readonly Sample[]) {
  const cells = new Map<string, { s: string; bucket: string; count: number; sum: number; min: number; max: number; last: number; lastTs: number }>();
  for (const x of samples) {
    const bucket = new Date(Math.floor(x.ts / width) * width).toISOString();
    const key = `${x.tags.s}|${bucket}`;
    const c = cells.get(key) ?? { s: x.tags.s!, bucket, count: 0, sum: 0, min: Infinity, max: -Infinity, last: NaN, lastTs: -Infinity };
    cells.set(key, c);
    c.count++;
    c.sum += x.value;
    c.min = Math.min(c.min, x.value);
    c.max = Math.max(c.max, x.value);
    if (x.ts >= c.lastTs) [c.last, c.lastTs] = [x.value, x.ts];
  }
  return [...cells.values()].map(({ lastTs: _, ...c }) => c).sort((a, b) => (a.s + a.bucket < b.s + b.bucket ? -1 : 1));
}
async function fromTier(tier: string, name: string, before: number) {
  const { rows } = await pool.query(
    `SELECT se.tags->>'s' AS s, r.bucket, r.count::int AS count, r.sum, r.min, r.max, r.last FROM rollup_${tier} r JOIN series se ON se.id = r.series_id
      WHERE se.name = $1 AND r.bucket < $2 ORDER BY 1, 2`,
    [name, new Date(before)],
  );
  return rows.map((r) => ({ ...r, bucket: r.bucket.toISOString() }));
}

describe('rollups', () => {
  it('are computed from the engine for every tier, late samples included, and a run repeated changes nothing', async () => {
    const now = Date.now();
    const samples: Sample[] = Array.from({ length: 900 }, (_, i) => ({ name: 'fold_metric', value: (i * 7) % 13, ts: now - 3 * HOUR + i * 11_000, tags: { s: String(i % 3) } }));
    await store.insert(samples);
    await rollUp();
    // Late samples, older than what was computed, after the run.
    const late: Sample[] = Array.from({ length: 50 }, (_, i) => ({ name: 'fold_metric', value: 100 + i, ts: now - 5 * HOUR + i * 1000, tags: { s: String(i % 3) } }));
    await store.insert(late);
    await rollUp();
    const lastRun = new Date();
    await rollUp();
    const { rows } = await pool.query<{ tier: string; until: Date }>('SELECT tier, until FROM rollup_watermarks');
    const until = Object.fromEntries(rows.map((r) => [r.tier, r.until.getTime()]));
    for (const [tier, width] of [['1m', 60_000], ['5m', 300_000], ['1h', HOUR], ['1d', DAY]] as const) {
      // Buckets past a tier's watermark are not computed yet (reads take them from finer tiers and the engine).
      const written = [...samples, ...late].filter((x) => x.ts < until[tier]!);
      expect(await fromTier(tier, 'fold_metric', until[tier]!), tier).toEqual(fromSamples(width, written));
    }
    // Every late mark is cleared, and so is every minute the watermark passed (name '': every metric) that was due
    // when the last run began. A minute passed since the database was made waits for its 5-minute window to end:
    // when the test crosses a minute boundary (a CI run did), that mark is rightly still there.
    const left = await pool.query("SELECT count(*)::int AS n FROM rollup_dirty WHERE name <> '' OR marked_at <= $1", [lastRun]);
    expect(left.rows[0].n).toBe(0);
  });
  it('stop between units of work when aborted, keeping their marks, and the next run computes them', async () => {
    const now = Date.now();
    await rollUp();
    // Older than the 1m watermark: marked late, computed by the runs below. From the start of an hour, so the first
    // hour's unit reads several 5-minute windows and the abort below lands between two of them (starting in an
    // hour's last minute, its first unit was one window, read whole before the abort could be seen).
    const start = Math.floor((now - 4 * HOUR) / HOUR) * HOUR;
    const samples: Sample[] = Array.from({ length: 720 }, (_, i) => ({ name: 'stopped_fold', value: i % 17, ts: start + i * 10_000, tags: { s: String(i % 2) } }));
    await store.insert(samples);
    const marks = async () => (await pool.query("SELECT count(*)::int AS n FROM rollup_dirty WHERE name = 'stopped_fold'")).rows[0].n as number;
    const marked = await marks();
    expect(marked).toBeGreaterThan(0);

    const aborted = AbortSignal.abort();
    expect(await computeRollups({ pool, engine, partitions, series: new SeriesIds(pool), settleMs: 0, rawRetentionMs: DAY, signal: aborted })).toEqual({ minutes: 0, rows: 0, stopped: true });

    // Aborted while the engine is read (once this metric's first window is resolved, before its rows fill a write):
    // nothing of that hour is written. A minute the watermark reached since the rollUp above is a unit of its own
    // and may come first.
    const controller = new AbortController();
    class AbortingIds extends SeriesIds {
      override async resolve(series: Parameters<SeriesIds['resolve']>[0]) {
        if (series.some((s) => s.name === 'stopped_fold')) controller.abort();
        return super.resolve(series);
      }
    }
    // Each export is ended by the same signal: a large one streams for longer than a shutdown waits.
    const exportSignals: (AbortSignal | undefined)[] = [];
    class RecordingEngine extends VictoriaMetrics {
      override export(match: string, start: number, end: number, signal?: AbortSignal) {
        exportSignals.push(signal);
        return super.export(match, start, end, signal);
      }
    }
    const recording = new RecordingEngine(ns.config.storage.engine);
    const report = await computeRollups({ pool, engine: recording, partitions, series: new AbortingIds(pool), settleMs: 0, rawRetentionMs: DAY, signal: controller.signal });
    expect(report).toMatchObject({ stopped: true });
    expect(exportSignals.length).toBeGreaterThan(0);
    expect(exportSignals.every((signal) => signal === controller.signal)).toBe(true);
    expect(await fromTier('1m', 'stopped_fold', now)).toEqual([]);
    expect(await marks()).toBe(marked);

    await rollUp();
    expect(await marks()).toBe(0);
    const { rows } = await pool.query<{ until: Date }>("SELECT until FROM rollup_watermarks WHERE tier = '1m'");
    expect(await fromTier('1m', 'stopped_fold', rows[0]!.until.getTime())).toEqual(fromSamples(60_000, samples));
  });
  it('leave out the 1m rows of late minutes past the 1m tier\'s retention and keep the 5m and 1h rows exact', async () => {
    const now = Date.now();
    const rollUpKeeping1m = () => computeRollups({ pool, engine, partitions, series: new SeriesIds(pool), settleMs: 0, rawRetentionMs: DAY, minuteRetentionMs: HOUR, now });
    await rollUpKeeping1m();
    // A backfill after the watermarks passed: minutes 4 h old, 90 minutes old (past the 1m tier's hour: retention may
    // have archived and dropped their partition, which rows written now would bring back unarchived) and 40 minutes old.
    const at = (from: number) => Array.from({ length: 60 }, (_, i): Sample => ({ name: 'backfilled', value: (i * 5) % 11, ts: from + i * 10_000, tags: { s: String(i % 2) } }));
    const old = at(Math.floor((now - 4 * HOUR) / HOUR) * HOUR);
    const past = at(Math.floor((now - 90 * 60_000) / 300_000) * 300_000);
    const recent = at(Math.floor((now - 40 * 60_000) / 300_000) * 300_000);
    await store.insert([...old, ...past, ...recent]);
    await rollUpKeeping1m();
    expect(await fromTier('1m', 'backfilled', now)).toEqual(fromSamples(60_000, recent));
    expect(await fromTier('5m', 'backfilled', now)).toEqual(fromSamples(300_000, [...old, ...past, ...recent]));
    const { rows } = await pool.query<{ until: Date }>("SELECT until FROM rollup_watermarks WHERE tier = '1h'");
    const hourMark = rows[0]!.until.getTime();
    expect(await fromTier('1h', 'backfilled', hourMark)).toEqual(fromSamples(HOUR, [...old, ...past, ...recent].filter((x) => x.ts < hourMark)));
  });
});

describe('rollups of an hour past the 5m tier’s retention', () => {
  it('take a late sample into the hour’s 1h row from the whole hour, not from the one 5m row recomputed', async () => {
    const now = Date.now();
    // The raw tier kept longer than the 5m tier (a day against two hours), as a deployment keeping 30 days of raw may.
    const rollUpShort5m = () => computeRollups({ pool, engine, partitions, series: new SeriesIds(pool), settleMs: 0, rawRetentionMs: DAY, fiveMinuteRetentionMs: 2 * HOUR, now });
    const hour = Math.floor((now - 4 * HOUR) / HOUR) * HOUR;
    const samples: Sample[] = Array.from({ length: 120 }, (_, i) => ({ name: 'long_raw', value: (i * 3) % 7, ts: hour + i * 30_000, tags: { s: String(i % 2) } }));
    await store.insert(samples);
    await rollUpShort5m();
    expect(await fromTier('1h', 'long_raw', hour + HOUR)).toEqual(fromSamples(HOUR, samples));
    // Retention dropped the hour's 5m rows; then a late sample comes into it.
    await pool.query("DELETE FROM rollup_5m r USING series se WHERE se.id = r.series_id AND se.name = 'long_raw'");
    const late: Sample = { name: 'long_raw', value: 50, ts: hour + 17 * 60_000 + 500, tags: { s: '0' } };
    await store.insert([late]);
    await rollUpShort5m();
    expect(await fromTier('1h', 'long_raw', hour + HOUR)).toEqual(fromSamples(HOUR, [...samples, late]));
  });
});

describe('retention and the archive', () => {
  it('archives each raw hour once from the engine and loads it back equal; drops rollup partitions past retention after archiving them', async () => {
    const now = Date.now();
    const hour = Math.floor(now / HOUR) * HOUR - 2 * HOUR;
    await store.insert(Array.from({ length: 500 }, (_, i) => ({ name: 'old_metric', value: i, ts: hour + i * 1000, tags: { k: String(i % 5) } })));
    await store.insert(Array.from({ length: 50 }, (_, i) => ({ name: 'old_metric', value: i, ts: now - 3 * DAY + i * 1000, tags: { k: 'x' } })));
    await rollUp();
    const snapshot = async () => (await engine.exportAll('{__name__="old_metric",k!="x"}', hour, hour + HOUR)).map((s) => JSON.stringify(s)).sort();
    const before = await snapshot();
    expect(before).toHaveLength(5);

    const index = new ArchiveIndex(join(ns.env.DATA_DIR!, 'archive'));
    const retention = tierRetentionMs(ns.config);
    const report = await applyRetention(pool, engine, partitions, index, retention, { now });
    const raw = (await index.entries()).filter((e) => e.tier === 'raw');
    // The hours holding samples within raw retention (the other test's too); the 3-day-old samples are past it.
    const ours = raw.find((e) => e.from === hour)!;
    expect(ours.rows).toBeGreaterThanOrEqual(500);
    expect(raw.every((e) => e.from >= now - DAY && e.to <= now)).toBe(true);
    expect((await readdir(join(ns.env.DATA_DIR!, 'archive', 'raw'))).filter((f) => f.endsWith('.native'))).toHaveLength(raw.length);
    // The 1m tier keeps 2 h: the partitions of the 3-day-old samples went to the archive, then were dropped.
    expect(report.dropped.some((p) => p.startsWith('rollup_1m_p'))).toBe(true);
    expect((await index.entries()).some((e) => e.tier === '1m')).toBe(true);

    await engine.deleteSeries('{__name__="old_metric"}');
    expect(await snapshot()).toEqual([]);
    expect(await loadRawArchive(engine, index, hour, hour + HOUR)).toBe(ours.rows);
    expect(await snapshot()).toEqual(before);
    // Loaded twice: the engine keeps one sample per series and timestamp.
    await loadRawArchive(engine, index, hour, hour + HOUR);
    expect(await snapshot()).toEqual(before);

    await applyRetention(pool, engine, partitions, index, retention, { now });
    expect((await index.entries()).filter((e) => e.tier === 'raw')).toHaveLength(raw.length);
  });
});

describe('a retention run stopped midway', () => {
  it('stops between archive files, and the next run archives the rest once', async () => {
    const now = Date.now();
    // Hours no other test of this file writes in: an hour's archived count is every series' in it.
    const first = Math.floor(now / HOUR) * HOUR - 12 * HOUR;
    for (const hour of [first, first + HOUR]) {
      await store.insert(Array.from({ length: 60 }, (_, i) => ({ name: 'stopped_metric', value: i, ts: hour + i * 60_000, tags: { k: String(i % 3) } })));
    }
    await rollUp();
    const dir = join(ns.env.DATA_DIR!, 'archive-stopped');
    const index = new ArchiveIndex(dir);
    const retention = tierRetentionMs(ns.config);
    // Stopped as a shutdown would stop it, right after its first file.
    const stop = new AbortController();
    const add = index.add.bind(index);
    index.add = async (entry) => {
      await add(entry);
      stop.abort(new Error('the storage is stopping'));
    };
    await expect(applyRetention(pool, engine, partitions, index, retention, { now, signal: stop.signal })).rejects.toThrow('the storage is stopping');
    expect(await index.entries()).toHaveLength(1);

    const again = new ArchiveIndex(dir);
    await applyRetention(pool, engine, partitions, again, retention, { now });
    const raw = (await again.entries()).filter((e) => e.tier === 'raw');
    expect(raw.filter((e) => e.from === first || e.from === first + HOUR).map((e) => e.rows)).toEqual([60, 60]);
    // Each hour once, and no temporary file left behind.
    expect(new Set(raw.map((e) => e.from)).size).toBe(raw.length);
    expect((await readdir(join(dir, 'raw'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('archives an hour again once late samples came into it, so the archive holds them too', async () => {
    const now = Date.now();
    // An hour no other test of this file writes in.
    const hour = Math.floor(now / HOUR) * HOUR - 15 * HOUR;
    await store.insert(Array.from({ length: 60 }, (_, i) => ({ name: 'late_archived', value: i, ts: hour + i * 60_000, tags: {} })));
    await rollUp();
    const index = new ArchiveIndex(join(ns.env.DATA_DIR!, 'archive-late'));
    const retention = tierRetentionMs(ns.config);
    await applyRetention(pool, engine, partitions, index, retention, { now });
    const rowsOf = async () => (await index.entries()).find((e) => e.tier === 'raw' && e.from === hour)?.rows;
    expect(await rowsOf()).toBe(60);
    // A sample of that hour comes late; its minute is rolled up again, and the next run writes the hour again.
    await store.insert([{ name: 'late_archived', value: 99, ts: hour + 30_500, tags: {} }]);
    await rollUp();
    await applyRetention(pool, engine, partitions, index, retention, { now });
    expect(await rowsOf()).toBe(61);
    expect((await index.entries()).filter((e) => e.tier === 'raw' && e.from === hour)).toHaveLength(1);
  });
});

describe('the raw archive on an engine that will not count that many series', () => {
  let limited: EngineProcess;
  beforeAll(async () => {
    limited = await startEngineProcess({ flags: ['-search.maxUniqueTimeseries=5'] });
  });
  afterAll(() => limited?.cleanup());

  it('archives the hour with its exact sample count', async () => {
    const db = await createTestDatabase({ overrides: { ...QUICK_SYNC, storage: { engine: { url: limited.url } } } });
    try {
      const wide = new VictoriaMetrics(db.ns.config.storage.engine);
      const now = Date.now();
      const hour = Math.floor(now / HOUR) * HOUR - 2 * HOUR;
      // 12 series, more than the engine selects for a query, 7 samples each.
      await new SampleStore(db.pool, wide).insert(Array.from({ length: 84 }, (_, i) => ({ name: 'wide_metric', value: i, ts: hour + i * 30_000, tags: { player: String(i % 12) } })));
      await expect(wide.query(`sum(count_over_time(${wide.everySeries}[1h]))`, hour + HOUR - 1)).rejects.toMatchObject({ status: 422 });
      await computeRollups({ pool: db.pool, engine: wide, partitions: new PartitionManager(db.pool), series: new SeriesIds(db.pool), settleMs: 0, rawRetentionMs: DAY });
      const index = new ArchiveIndex(join(db.ns.env.DATA_DIR!, 'archive'));
      const written = await archiveRawHours(db.pool, wide, index, DAY, { now });
      expect(written.map((e) => [e.from, e.rows])).toEqual([[hour, 84]]);

      await wide.deleteSeries(wide.everySeries);
      expect(await wide.exportAll(wide.everySeries, hour, hour + HOUR)).toEqual([]);
      expect(await loadRawArchive(wide, index, hour, hour + HOUR)).toBe(84);
      const back = await wide.exportAll(wide.everySeries, hour, hour + HOUR);
      expect(back).toHaveLength(12);
      expect(back.reduce((n, s) => n + s.timestamps.length, 0)).toBe(84);
    } finally {
      await db.cleanup();
    }
  });
});
