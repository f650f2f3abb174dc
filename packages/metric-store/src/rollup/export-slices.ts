/**
 * Series one export of every metric covers at most. The rollups read each window of every series back, and the
 * engine gathers an export's series before it streams them: one export of a million series (a fleet's window) grew
 * VictoriaMetrics 1.79 by 880 MiB at its peak for 17.1 s of its CPU, exports of 20,000 series each by 355 MiB for
 * 13.2 s (measured 2026-12-05). Many small exports cost more in all (2,000 exports of 50 series: twice the CPU of
 * one), so small metrics share one.
 */
export const SERIES_PER_EXPORT = 20_000;
/** Metric names the engine lists at most (VictoriaMetrics' `-search.maxTagValues`, 100,000 by default). */
export const LISTED_NAMES_AT_MOST = 100_000;
/** Names one export's alternation lists at most, so that its selector stays a short request (names the engine did not count share them). */
const NAMES_PER_EXPORT = 500;

/**
 * The metric names in slices of about `maxSeries` series each by `count` (names in their order; a name with more
 * is a slice of its own; a name not counted counts as one series).
 */
export function nameSlices(names: readonly string[], count: (name: string) => number, maxSeries = SERIES_PER_EXPORT): string[][] {
  const slices: string[][] = [];
  let slice: string[] = [];
  let size = 0;
  for (const name of names) {
    const n = Math.max(1, count(name));
    if (slice.length > 0 && (size + n > maxSeries || slice.length >= NAMES_PER_EXPORT)) {
      slices.push(slice);
      slice = [];
      size = 0;
    }
    slice.push(name);
    size += n;
  }
  if (slice.length > 0) slices.push(slice);
  return slices;
}
