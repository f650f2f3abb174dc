import { describe, expect, it } from 'vitest';
import { exponentialBuckets } from './exponential-buckets.ts';

describe('exponentialBuckets', () => {
  it('at scale 0 bucket i is (2^i, 2^(i+1)]; the zero threshold is the first bound, holding the zero and negative buckets', () => {
    // Observations: -3, -0.5 (negative buckets), 0 (zero bucket), 1.5 (index 0), 3 and 4 (index 1), 7 (index 2).
    const point = { scale: 0, zeroCount: '1', zeroThreshold: 0, positive: { offset: 0, bucketCounts: ['1', '2', '1'] }, negative: { offset: -1, bucketCounts: ['1', '0', '1'] }, count: '7' };
    expect(exponentialBuckets(point)).toEqual([
      { le: 0, count: 3 },
      { le: 2, count: 4 },
      { le: 4, count: 6 },
      { le: 8, count: 7 },
    ]);
  });

  it('computes bounds from scale and offset: base 2^(2^-scale), upper bound of index i is base^(i+1)', () => {
    const at = (scale: number, offset: number, n: number) => exponentialBuckets({ scale, zeroThreshold: 1e-9, positive: { offset, bucketCounts: Array(n).fill('1') } }).map((b) => b.le);
    // scale 1: base √2; offset 2 is (2, 2√2].
    expect(at(1, 2, 3)).toEqual([1e-9, 2 * Math.SQRT2, 4, 4 * Math.SQRT2]);
    // scale -1: base 4; offset -1 is (1/4, 1].
    expect(at(-1, -1, 3)).toEqual([1e-9, 1, 4, 16]);
    // scale 3: base 2^(1/8); index 7 is (2^(7/8), 2], index -9 is (2^(-9/8), 2^-1].
    expect(at(3, 7, 1)).toEqual([1e-9, 2]);
    expect(at(3, -9, 1)).toEqual([1e-9, 0.5]);
    const fine = at(20, 0, 2);
    expect(fine[1]).toBeCloseTo(2 ** (1 / 2 ** 20), 15);
    expect(fine[2]).toBeCloseTo(2 ** (2 / 2 ** 20), 15);
  });

  it('counts buckets at or below the zero threshold into it and leaves bounds past the largest double to +Inf', () => {
    expect(exponentialBuckets({ scale: 0, zeroThreshold: 4, zeroCount: '2', positive: { offset: 0, bucketCounts: ['1', '1', '1'] } })).toEqual([
      { le: 4, count: 4 },
      { le: 8, count: 5 },
    ]);
    expect(exponentialBuckets({ scale: 0, positive: { offset: 1022, bucketCounts: ['1', '1'] } })).toEqual([
      { le: 0, count: 0 },
      { le: 2 ** 1023, count: 1 },
    ]);
  });

  it('has the zero bucket alone when nothing is positive', () => {
    expect(exponentialBuckets({ scale: 5, zeroCount: '3', negative: { offset: 4, bucketCounts: ['2'] } })).toEqual([{ le: 0, count: 5 }]);
  });
});
