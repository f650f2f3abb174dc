import type { Sample } from '@terminusa/bus';
import { BinaryCopyWriter } from './binary-copy.ts';

const MINUTE_MS = 60_000;

/** The samples of one series in one minute, reduced: what the fold adds to the tiers. */
interface MinutePartial {
  minute: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  /** The newest sample: its time and value (`last`). */
  ts: number;
  value: number;
}

/**
 * The `rollup_pending` rows of `samples` (series ids `ids`): one per series and minute, `(series_id, ts, value,
 * count, sum, min, max)` where ts and value are the minute's newest sample. A minute of one sample leaves sum,
 * min and max NULL, which the fold and history reads take as the value, as for rows written one per sample.
 * A batch holding several samples of a series in a minute so writes, and the fold later reads, fewer rows.
 */
export function minutePartialRows(ids: readonly number[], samples: readonly Sample[]): { rows: number; data: Buffer } {
  // Per series a short list: a batch rarely spans more than a minute or two of one series.
  const bySeries = new Map<number, MinutePartial[]>();
  let rows = 0;
  for (let i = 0; i < samples.length; i++) {
    const { ts, value } = samples[i]!;
    const ms = Math.trunc(ts);
    const minute = Math.floor(ms / MINUTE_MS);
    let partials = bySeries.get(ids[i]!);
    if (!partials) bySeries.set(ids[i]!, (partials = []));
    const p = partials.find((q) => q.minute === minute);
    if (!p) {
      partials.push({ minute, count: 1, sum: value, min: value, max: value, ts: ms, value });
      rows++;
      continue;
    }
    p.count++;
    p.sum += value;
    if (value < p.min) p.min = value;
    if (value > p.max) p.max = value;
    if (ms >= p.ts) {
      p.ts = ms;
      p.value = value;
    }
  }
  const out = new BinaryCopyWriter(rows, 7);
  for (const [id, partials] of bySeries) {
    for (const p of partials) {
      out.row(7).int8(id).timestamp(p.ts).float8(p.value).int8(p.count);
      if (p.count === 1) out.null().null().null();
      else out.float8(p.sum).float8(p.min).float8(p.max);
    }
  }
  return { rows, data: out.finish() };
}
