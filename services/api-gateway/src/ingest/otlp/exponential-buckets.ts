import type { ExponentialHistogramDataPoint } from './otlp-proto.ts';

/** One classic bucket: how many observations were at most `le`. */
export interface ClassicBucket {
  le: number;
  count: number;
}

const sum = (counts: readonly string[] | undefined): number => (counts ?? []).reduce((n, c) => n + Number(c), 0);

/**
 * base^(index+1) with base = 2^(2^-scale), the power of two split off first so only a power in [1, 2) is rounded
 * (`2 ** 1.5` is one unit in the last place below 2·√2, `2 * 2 ** 0.5` is not).
 */
function upperBound(index: number, scale: number): number {
  const n = index + 1;
  if (scale <= 0) return 2 ** (n * 2 ** -scale);
  const size = 2 ** scale;
  const whole = Math.floor(n / size);
  return 2 ** whole * 2 ** ((n - whole * size) / size);
}

/**
 * The cumulative classic (`le`) buckets of an exponential histogram point, `+Inf` aside: positive bucket `i` ends
 * at base^(i+1), and the first bucket, `le` = the zero threshold, also holds every negative bucket because a
 * classic histogram has no bucket below its lowest bound.
 */
export function exponentialBuckets(point: ExponentialHistogramDataPoint): ClassicBucket[] {
  const threshold = Number.isFinite(point.zeroThreshold) && point.zeroThreshold! > 0 ? point.zeroThreshold! : 0;
  const buckets: ClassicBucket[] = [{ le: threshold, count: Number(point.zeroCount ?? 0) + sum(point.negative?.bucketCounts) }];
  const scale = point.scale ?? 0;
  const offset = point.positive?.offset ?? 0;
  for (const [k, c] of (point.positive?.bucketCounts ?? []).entries()) {
    const le = upperBound(offset + k, scale);
    const last = buckets[buckets.length - 1]!;
    // A bound at or below the zero threshold is inside it; one past the largest double is left to +Inf.
    if (le <= last.le) last.count += Number(c);
    else if (Number.isFinite(le)) buckets.push({ le, count: last.count + Number(c) });
  }
  return buckets;
}
