const BARS = '▁▂▃▄▅▆▇█';

/**
 * A one-line chart of `values`, at most `width` characters: wider series are averaged into `width` buckets.
 * Gaps (NaN) are spaces; a flat series is a row of middle bars, so it is not mistaken for zero.
 */
export function sparkline(values: readonly number[], width = 60): string {
  const points = values.length > width ? downsample(values, width) : [...values];
  const finite = points.filter(Number.isFinite);
  if (finite.length === 0) return ' '.repeat(points.length);
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  return points
    .map((v) => {
      if (!Number.isFinite(v)) return ' ';
      if (max === min) return BARS[3];
      return BARS[Math.min(BARS.length - 1, Math.floor(((v - min) / (max - min)) * BARS.length))];
    })
    .join('');
}

function downsample(values: readonly number[], width: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < width; i++) {
    const bucket = values.slice(Math.floor((i * values.length) / width), Math.floor(((i + 1) * values.length) / width)).filter(Number.isFinite);
    out.push(bucket.length ? bucket.reduce((a, b) => a + b, 0) / bucket.length : NaN);
  }
  return out;
}
