import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sample } from '@terminusa/bus';
import { startEngineProcess, createTestDatabase, QUICK_SYNC, type EngineProcess } from '@terminusa/testkit';
import { VictoriaMetrics } from '../engine/victoria-metrics.ts';
import { PartitionManager } from '../partitions.ts';
import { SampleStore } from '../sample-store.ts';
import { SeriesIds } from '../series-ids.ts';
import { computeRollups } from './compute-rollups.ts';
import { nameSlices } from './export-slices.ts';

describe('nameSlices', () => {
  const counts: Record<string, number> = { a: 3, b: 3, big: 10, c: 1, fresh: 0 };
  const count = (name: string) => counts[name] ?? 0;

  it('packs names in their order into slices of at most the series given, a larger name alone', () => {
    expect(nameSlices(['a', 'b', 'big', 'c', 'fresh'], count, 6)).toEqual([['a', 'b'], ['big'], ['c', 'fresh']]);
    expect(nameSlices(['a', 'b', 'c'], count, 4)).toEqual([['a'], ['b', 'c']]);
  });

  it('counts a name not counted as one series', () => {
    expect(nameSlices(['x', 'y', 'z'], () => 0, 2)).toEqual([['x', 'y'], ['z']]);
  });

  it('lists at most 500 names in one export, and nothing for no names', () => {
    const names = Array.from({ length: 1201 }, (_, i) => `m${i}`);
    expect(nameSlices(names, () => 1, 1e9).map((s) => s.length)).toEqual([500, 500, 201]);
    expect(nameSlices([], count)).toEqual([]);
  });
});

/** What a rollup run of every metric read, and whether its 1m rows hold exactly the samples written. */
interface EveryMetricRun {
  /** The selector of each export, in order. */
  matches: string[];
  /** The metric names of each export's selector (the namespace's value for the selector of every series). */
  names: string[][];
  everySeries: string;
  /** 5-minute windows computed. */
  windows: number;
}

/**
 * Writes `names` metrics of `series` series each, a sample every 30 s since a 5-minute boundary 15–20 minutes ago,
 * into a fresh namespace on the engine at `engineUrl` (the tests' shared one when unset), with the tiers computed up
 * to that boundary as a running storage leaves them; runs the rollups once and checks their 1m rows against the
 * samples.
 */
async function rollUpEveryMetric(metrics: number, series: number, seriesPerExport: number, engineUrl?: string, rowsPerWrite?: number): Promise<EveryMetricRun> {
  const { ns, pool, cleanup } = await createTestDatabase({ overrides: { ...QUICK_SYNC, ...(engineUrl ? { storage: { engine: { url: engineUrl } } } : {}) } });
  try {
    const engine = new VictoriaMetrics(ns.config.storage.engine);
    const matches: string[] = [];
    const exportOf = engine.export.bind(engine);
    engine.export = (match, start, end) => (matches.push(match), exportOf(match, start, end));
    const now = Date.now();
    const start = Math.floor((now - 15 * 60_000) / 300_000) * 300_000;
    for (const [tier, width] of [['1m', 60_000], ['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000]] as const) {
      await pool.query('UPDATE rollup_watermarks SET until = $2 WHERE tier = $1', [tier, new Date(Math.floor(start / width) * width)]);
    }
    const samples: Sample[] = [];
    for (let t = start; t < now; t += 30_000) {
      for (let m = 0; m < metrics; m++) for (let s = 0; s < series; s++) samples.push({ name: `slice_${m}`, value: (Math.round(t / 1000) + s) % 17, ts: t, tags: { s: String(s) } });
    }
    await new SampleStore(pool, engine).insert(samples);
    await computeRollups({ pool, engine, partitions: new PartitionManager(pool), series: new SeriesIds(pool), settleMs: 0, rawRetentionMs: 20 * 60_000, seriesPerExport, rowsPerWrite, now });

    const { rows: marks } = await pool.query<{ until: Date }>("SELECT until FROM rollup_watermarks WHERE tier = '1m'");
    // Minutes of a 5-minute window the watermark is still in are computed once it has passed.
    const computed = Math.floor(marks[0]!.until.getTime() / 300_000) * 300_000;
    const expected = new Map<string, { count: number; sum: number }>();
    for (const x of samples.filter((x) => x.ts < computed)) {
      const key = `${x.name}|${x.tags.s}|${Math.floor(x.ts / 60_000) * 60_000}`;
      const cell = expected.get(key) ?? { count: 0, sum: 0 };
      expected.set(key, { count: cell.count + 1, sum: cell.sum + x.value });
    }
    const { rows } = await pool.query<{ name: string; s: string; bucket: Date; count: number; sum: number }>(
      "SELECT se.name, se.tags->>'s' AS s, r.bucket, r.count::int AS count, r.sum FROM rollup_1m r JOIN series se ON se.id = r.series_id WHERE r.bucket < $1",
      [new Date(computed)],
    );
    expect(new Map(rows.map((r) => [`${r.name}|${r.s}|${r.bucket.getTime()}`, { count: r.count, sum: r.sum }]))).toEqual(expected);
    return { matches, names: matches.map((m) => /"(.*)"/.exec(m)![1]!.split('|')), everySeries: engine.everySeries, windows: (computed - start) / 300_000 };
  } finally {
    await cleanup();
  }
}

describe('the rollups of every metric, read in slices', () => {
  it('read each metric once a window, in slices by the series the engine counts of it, into exact rows', async () => {
    // Each slice's rows written in a transaction of their own.
    const run = await rollUpEveryMetric(3, 3, 6, undefined, 1);
    // Three series each (or more: the engine's count of a day is an upper bound), so no export of six takes all
    // three metrics; every window reads each metric once, in two or three exports.
    expect(run.windows).toBeGreaterThanOrEqual(2);
    for (const name of ['slice_0', 'slice_1', 'slice_2']) expect(run.names.filter((n) => n.includes(name)).length).toBe(run.windows);
    expect(run.names.every((n) => n.length <= 2)).toBe(true);
    expect(run.matches.length).toBeGreaterThanOrEqual(2 * run.windows);
  });

  it('list the names when there are more than the engine counts, 500 to an export', async () => {
    const run = await rollUpEveryMetric(1200, 1, 20_000);
    expect(run.matches).toHaveLength(3 * run.windows);
    expect(run.names.map((n) => n.length).sort()).toEqual(Array.from({ length: run.windows }, () => [200, 500, 500]).flat().sort());
    expect(new Set(run.names.flat()).size).toBe(1200);
  });

  describe('on an engine that will not list the names of that many series', () => {
    let engine: EngineProcess;
    beforeAll(async () => {
      engine = await startEngineProcess({ flags: ['-search.maxUniqueTimeseries=500'] });
    });
    afterAll(() => engine?.cleanup());

    it('read every series in one export a window', async () => {
      const run = await rollUpEveryMetric(1200, 1, 20_000, engine.url);
      expect(run.matches.length).toBe(run.windows);
      expect(new Set(run.matches)).toEqual(new Set([run.everySeries]));
    });
  });
});
