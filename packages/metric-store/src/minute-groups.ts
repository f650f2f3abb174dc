import type { Sample } from '@terminusa/bus';
import { BinaryCopyWriter } from './binary-copy.ts';

const MINUTE_MS = 60_000;
const TIMESTAMPTZ_OID = 1184;
const FLOAT8_OID = 701;

/** The samples of one series in one minute of a batch, and what the fold adds to the tiers for them. */
export interface MinuteGroup {
  seriesId: number;
  minute: number;
  /** Positions of the group's samples in the batch. */
  samples: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
  /** The oldest sample's time (whole epoch ms). */
  first: number;
  /** The newest sample: its time and value (`last`). */
  ts: number;
  value: number;
}

/** Groups a batch's samples (series ids `ids`) per series and minute. */
export function groupByMinute(ids: readonly number[], samples: readonly Sample[]): MinuteGroup[] {
  // Per series a short list: a batch rarely spans more than a minute or two of one series.
  const bySeries = new Map<number, MinuteGroup[]>();
  const groups: MinuteGroup[] = [];
  for (let i = 0; i < samples.length; i++) {
    const { ts, value } = samples[i]!;
    const ms = Math.trunc(ts);
    const minute = Math.floor(ms / MINUTE_MS);
    const seriesId = ids[i]!;
    let ofSeries = bySeries.get(seriesId);
    if (!ofSeries) bySeries.set(seriesId, (ofSeries = []));
    const g = ofSeries.find((q) => q.minute === minute);
    if (!g) {
      const created = { seriesId, minute, samples: [i], count: 1, sum: value, min: value, max: value, first: ms, ts: ms, value };
      ofSeries.push(created);
      groups.push(created);
      continue;
    }
    g.samples.push(i);
    g.count++;
    g.sum += value;
    if (value < g.min) g.min = value;
    if (value > g.max) g.max = value;
    if (ms < g.first) g.first = ms;
    if (ms >= g.ts) {
      g.ts = ms;
      g.value = value;
    }
  }
  return groups;
}

/**
 * The `sample_blocks` rows of a batch: one per series and minute, `(series_id, ts_min, ts_max, ts[], value[])`.
 * A block is indexed once for all its samples, which is what makes raw storage cheap: a b-tree entry per sample
 * cost PostgreSQL about three times the heap write.
 */
export function sampleBlockRows(groups: readonly MinuteGroup[], samples: readonly Sample[]): Buffer {
  // Two arrays a row: 24 bytes of header each, 12 bytes a sample each.
  const out = new BinaryCopyWriter(groups.length, 3, 48 * groups.length + 24 * samples.length);
  for (const g of groups) {
    out.row(5).int8(g.seriesId).timestamp(g.first).timestamp(g.ts);
    out.array(TIMESTAMPTZ_OID, g.samples.length);
    for (const i of g.samples) out.timestamp(samples[i]!.ts);
    out.array(FLOAT8_OID, g.samples.length);
    for (const i of g.samples) out.float8(samples[i]!.value);
  }
  return out.finish();
}

/**
 * The `rollup_pending` rows of a batch: one per series and minute, `(series_id, ts, value, count, sum, min, max)`
 * where ts and value are the minute's newest sample. A minute of one sample leaves sum, min and max NULL, which
 * the fold and history reads take as the value, as for rows written one per sample.
 */
export function pendingRows(groups: readonly MinuteGroup[]): Buffer {
  const out = new BinaryCopyWriter(groups.length, 7);
  for (const g of groups) {
    out.row(7).int8(g.seriesId).timestamp(g.ts).float8(g.value).int8(g.count);
    if (g.count === 1) out.null().null().null();
    else out.float8(g.sum).float8(g.min).float8(g.max);
  }
  return out.finish();
}
