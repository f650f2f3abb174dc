import { describe, expect, it } from 'vitest';
import { samplesInText } from './answer-samples.ts';

/** Label values that look like JSON's structure, escapes included. */
const TRICKY = ['a', '[', ']', '{', '}', '[[1,"2"]]', '"', '\\', '\\"]', 'x\\\\', '"resultType":"matrix"', 'é\u2028\u0000'];
const labels = (i: number) => ({ __name__: 'm', v: TRICKY[i % TRICKY.length]!, w: TRICKY[(i * 7 + 3) % TRICKY.length]! });
const answer = (data: unknown, extra: object = {}) => JSON.stringify({ status: 'success', isPartial: false, data, ...extra });

describe('samplesInText', () => {
  it('counts a matrix point by point, whatever its label values hold', () => {
    for (const [series, points] of [[0, 0], [1, 1], [3, 7], [40, 13]] as const) {
      const result = Array.from({ length: series }, (_, i) => ({ metric: labels(i), values: Array.from({ length: points + (i % 3) }, (_, k) => [1700000000 + k * 15, String(k / 3)]) }));
      const expected = result.reduce((n, s) => n + s.values.length, 0);
      expect(samplesInText(answer({ resultType: 'matrix', result }, { stats: { seriesFetched: String(series) } })), `${series} × ${points}`).toBe(expected);
    }
  });

  it('counts a vector series by series, and the points of native histograms with a matrix', () => {
    const vector = Array.from({ length: 25 }, (_, i) => ({ metric: labels(i), value: [1700000000, String(i)] }));
    expect(samplesInText(answer({ resultType: 'vector', result: vector }))).toBe(25);
    expect(samplesInText(answer({ resultType: 'vector', result: [] }))).toBe(0);
    const histograms = [{ metric: labels(1), histograms: [[1, { count: '2', buckets: [[0, '0.1', '0.2', '2']] }], [2, { count: '3', buckets: [] }]] }];
    expect(samplesInText(answer({ resultType: 'matrix', result: histograms }))).toBe(2);
  });

  it('counts a scalar or a string as one, warnings and spaces aside', () => {
    expect(samplesInText(answer({ resultType: 'scalar', result: [1700000000, '4'] }, { warnings: ['[not] {a} sample'] }))).toBe(1);
    expect(samplesInText(answer({ resultType: 'string', result: [1700000000, '[1,"2"]'] }))).toBe(1);
    expect(samplesInText(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: [[1, '1'], [2, '2']] }] } }, null, 2))).toBe(2);
  });
});
