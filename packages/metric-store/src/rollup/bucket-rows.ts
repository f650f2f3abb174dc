import { BinaryCopyWriter } from '../binary-copy.ts';

/** Rows of one rollup tier: per (series, bucket) count, sum, min, max and the newest sample (last, last_ts). */
export class BucketRows {
  readonly seriesIds: number[] = [];
  readonly buckets: number[] = [];
  readonly counts: number[] = [];
  readonly sums: number[] = [];
  readonly mins: number[] = [];
  readonly maxs: number[] = [];
  readonly lasts: number[] = [];
  readonly lastTs: number[] = [];

  constructor(readonly width: number) {}

  get length(): number {
    return this.buckets.length;
  }

  /** Empties the rows (after they are written). */
  clear(): void {
    for (const column of [this.seriesIds, this.buckets, this.counts, this.sums, this.mins, this.maxs, this.lasts, this.lastTs]) column.length = 0;
  }

  /** Adds the buckets of one series' samples (in time order) that fall in `[from, to)`. */
  add(seriesId: number, timestamps: readonly number[], values: readonly number[], from: number, to: number): void {
    let bucket = NaN;
    let at = -1;
    for (let i = 0; i < timestamps.length; i++) {
      const ts = timestamps[i]!;
      if (ts < from || ts >= to) continue;
      const v = values[i]!;
      const b = Math.floor(ts / this.width) * this.width;
      if (b !== bucket) {
        bucket = b;
        at = this.buckets.length;
        this.seriesIds.push(seriesId);
        this.buckets.push(b);
        this.counts.push(1);
        this.sums.push(v);
        this.mins.push(v);
        this.maxs.push(v);
        this.lasts.push(v);
        this.lastTs.push(ts);
        continue;
      }
      this.counts[at]!++;
      this.sums[at]! += v;
      if (v < this.mins[at]!) this.mins[at] = v;
      if (v > this.maxs[at]!) this.maxs[at] = v;
      if (ts >= this.lastTs[at]!) {
        this.lasts[at] = v;
        this.lastTs[at] = ts;
      }
    }
  }

  /**
   * The rows as a binary COPY stream of `(series_id, bucket, count, sum, min, max, last, last_ts)`, in pieces of at
   * most `rowsPerPiece` rows, each built when the stream reads it: a window of a million series is five million
   * rows, which built whole took one buffer of half a gigabyte, filled in one synchronous call.
   */
  *copyData(rowsPerPiece = 20_000): Generator<Buffer> {
    const pieces = Math.max(1, Math.ceil(this.length / rowsPerPiece));
    for (let p = 0; p < pieces; p++) {
      const start = p * rowsPerPiece;
      const end = Math.min(this.length, start + rowsPerPiece);
      const out = new BinaryCopyWriter(end - start, 8, 0, { first: p === 0, last: p === pieces - 1 });
      for (let i = start; i < end; i++) {
        out.row(8).int8(this.seriesIds[i]!).timestamp(this.buckets[i]!).int8(this.counts[i]!).float8(this.sums[i]!);
        out.float8(this.mins[i]!).float8(this.maxs[i]!).float8(this.lasts[i]!).timestamp(this.lastTs[i]!);
      }
      yield out.finish();
    }
  }
}
