import { beforeAll, describe, expect, it } from 'vitest';
import { type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { VictoriaMetrics } from './victoria-metrics.ts';

/**
 * Prometheus 2.42's extrapolatedRate (promql/functions.go), written out here from its source as the reference the
 * engine's answers are held to: the samples in [end - range, end], the increase from the first to the last (resets
 * added back for counters), extrapolated towards the edges.
 */
function prometheusRate(samples: readonly [number, number][], end: number, rangeMs: number, fn: 'rate' | 'increase' | 'delta'): number | undefined {
  const points = samples.filter(([t]) => t >= end - rangeMs && t <= end);
  if (points.length < 2) return undefined;
  const counter = fn !== 'delta';
  const [firstT, firstV] = points[0]!;
  const [lastT, lastV] = points.at(-1)!;
  let result = lastV - firstV;
  if (counter) {
    let prev = firstV;
    for (const [, v] of points.slice(1)) {
      if (v < prev) result += prev;
      prev = v;
    }
  }
  let durationToStart = (firstT - (end - rangeMs)) / 1000;
  const durationToEnd = (end - lastT) / 1000;
  const sampledInterval = (lastT - firstT) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (points.length - 1);
  if (counter && result > 0 && firstV >= 0) {
    const durationToZero = sampledInterval * (firstV / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = averageDurationBetweenSamples * 1.1;
  let interval = sampledInterval;
  interval += durationToStart < threshold ? durationToStart : averageDurationBetweenSamples / 2;
  interval += durationToEnd < threshold ? durationToEnd : averageDurationBetweenSamples / 2;
  let factor = interval / sampledInterval;
  if (fn === 'rate') factor /= rangeMs / 1000;
  return result * factor;
}

let ns: TestNamespace;
let engine: VictoriaMetrics;
let asEngine: VictoriaMetrics;
// Whole seconds, so that no sample (at odd milliseconds) sits on a window's edge, which Prometheus 2 counts in and the engine leaves out.
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 60 * 60_000;
const series: Record<string, [number, number][]> = {};

/** A series every ~15 s (jittered by a few milliseconds) from `from` to `to` minutes after T0, with values from `value(i)`. */
function samplesOf(from: number, to: number, value: (i: number) => number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0, t = T0 + from * 60_000 + 3_217; t < T0 + to * 60_000; i++, t += 15_000 + ((i * 37) % 23) - 11) out.push([t, value(i)]);
  return out;
}

useTestNamespace((opened) => (ns = opened), { storage: { engine: { rates: 'prometheus' } } });
beforeAll(async () => {
  engine = new VictoriaMetrics(ns.config.storage.engine);
  asEngine = new VictoriaMetrics({ ...ns.config.storage.engine, rates: 'engine' });
  // A steady counter, one that resets, one that starts at 40 min (from 3, where the zero point is near), a gauge.
  series['steady'] = samplesOf(0, 60, (i) => 1000 + i * 42.5);
  series['resets'] = samplesOf(0, 60, (i) => (i % 50) * 17 + (i >= 50 ? 0 : 500));
  series['late'] = samplesOf(40, 60, (i) => 3 + i * 10);
  series['gauge'] = samplesOf(0, 60, (i) => 100 + 40 * Math.sin(i / 3));
  const lines = Object.entries(series).map(([id, s]) =>
    JSON.stringify({ metric: { __name__: id === 'gauge' ? 'rates_gauge' : 'rates_total', id }, values: s.map(([, v]) => v), timestamps: s.map(([t]) => t) }),
  );
  await engine.sync(await engine.import(`${lines.join('\n')}\n`));
}, 60_000);


/** Equal within 1e-9 relative, as the PromQL benchmark counts agreement (the same arithmetic, in another order in places). */
function expectAgrees(actual: number | undefined, expected: number, label = ''): void {
  expect(actual, label).toBeDefined();
  expect(Math.abs(actual! - expected) / Math.max(Math.abs(expected), 1e-300), `${label}: ${actual} against ${expected}`).toBeLessThan(1e-9);
}

const byId = (answer: { metric: Record<string, string>; value: number }[]) => Object.fromEntries(answer.map((r) => [r.metric.id, r.value]));

/** Instants: in steady state, the reset in the window (at 12.5 min), just after the late series starts, before it. */
const INSTANTS = [30 * 60_000 + 500, 13 * 60_000, 40 * 60_000 + 50_000, 41 * 60_000 + 7_000, 39 * 60_000];

describe("PromQL rates as Prometheus computes them (storage.engine.rates: 'prometheus')", () => {
  for (const [fn, name, ids] of [
    ['rate', 'rates_total', ['steady', 'resets', 'late']],
    ['increase', 'rates_total', ['steady', 'resets', 'late']],
    ['delta', 'rates_gauge', ['gauge']],
  ] as const) {
    it(`${fn}: the engine's answers equal Prometheus' at every instant, and series with fewer than two samples in the window answer nothing`, async () => {
      for (const at of INSTANTS) {
        for (const rangeMs of [60_000, 120_000]) {
          const answer = byId(await engine.query(`${fn}(${name}[${rangeMs / 1000}s])`, T0 + at));
          for (const id of ids) {
            const expected = prometheusRate(series[id]!, T0 + at, rangeMs, fn);
            if (expected === undefined) expect(answer[id], `${fn} ${id} at +${at} ms over ${rangeMs} ms`).toBeUndefined();
            else expectAgrees(answer[id], expected, `${fn} ${id} at +${at} ms over ${rangeMs} ms`);
          }
        }
      }
    });
  }

  it('differs from the engine\'s own rate, which is not extrapolated (the setting is what changes the answer)', async () => {
    const at = T0 + 30 * 60_000 + 500;
    const [ours, theirs] = await Promise.all([engine.query('increase(rates_total{id="steady"}[1m])', at), asEngine.query('increase(rates_total{id="steady"}[1m])', at)]);
    // The counter rises 42.5 a sample: the engine counts whole steps of it (four, or three), Prometheus extrapolates to 170.
    expectAgrees(ours[0]!.value, prometheusRate(series['steady']!, at, 60_000, 'increase')!);
    expect(theirs[0]!.value % 42.5).toBeCloseTo(0, 9);
    expect(ours[0]!.value).not.toBeCloseTo(theirs[0]!.value, 3);
  });

  it('shifts the window by offset and pins it by @, inside aggregations and subqueries too', async () => {
    const at = T0 + 30 * 60_000 + 500;
    const offset = byId(await engine.query('rate(rates_total[1m] offset 10m)', at));
    expectAgrees(offset.steady, prometheusRate(series['steady']!, at - 10 * 60_000, 60_000, 'rate')!);
    const pinned = T0 + 20 * 60_000 + 250;
    const pinnedAnswer = byId(await engine.query(`rate(rates_total[1m] @ ${pinned / 1000})`, at));
    expectAgrees(pinnedAnswer.resets, prometheusRate(series['resets']!, pinned, 60_000, 'rate')!);
    const [sum] = await engine.query('sum(increase(rates_total{id=~"steady|resets"}[2m]))', at);
    const expected = prometheusRate(series['steady']!, at, 120_000, 'increase')! + prometheusRate(series['resets']!, at, 120_000, 'increase')!;
    expectAgrees(sum!.value, expected);
    // A subquery evaluates the rate at each of its steps: the maximum of the rates at at-60s, at-30s and at.
    const [max] = await engine.query('max_over_time(rate(rates_total{id="steady"}[1m])[1m:30s])', at);
    const grid = [0, 30_000, 60_000].map((back) => Math.floor((at - back) / 30_000) * 30_000).filter((t) => t > at - 60_000);
    expectAgrees(max!.value, Math.max(...grid.map((t) => prometheusRate(series['steady']!, t, 60_000, 'rate')!)));
  });

  it('answers a range query with the rate at each step', async () => {
    const start = T0 + 20 * 60_000;
    const params = new URLSearchParams({ query: engine.promql('rate(rates_total{id="resets"}[1m])').expr, start: String(start / 1000), end: String((start + 5 * 60_000) / 1000), step: '60' });
    const answer = await engine.prometheusApi('/api/v1/query_range', params);
    expect(answer.status).toBe(200);
    const values = (answer.body as { data: { result: { values: [number, string][] }[] } }).data.result[0]!.values;
    expect(values).toHaveLength(6);
    for (const [t, v] of values) expectAgrees(Number(v), prometheusRate(series['resets']!, t * 1000, 60_000, 'rate')!, `at ${t}`);
  });
});
