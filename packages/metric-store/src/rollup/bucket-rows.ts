import { BinaryCopyWriter } from '../binary-copy.ts';

/** The columns of {@link BucketRows}, in COPY order. */
const COLUMNS = ['seriesIds', 'buckets', 'counts', 'sums', 'mins', 'maxs', 'lasts', 'lastTs'] as const;

/**
 * Rows of one rollup tier: per (series, bucket) count, sum, min, max and the newest sample (last, last_ts).
 * Columns are typed arrays kept across {@link clear}: arrays grown by push left a copy behind at each growth, large
 * objects that only a full collection frees, and a rollup run over a million series' window peaked at 233 MiB of them
 * (104 MiB since).
 */
export class BucketRows {
  private capacity = 0;
  private size = 0;
  private seriesIds = new Float64Array(0);
  private buckets = new Float64Array(0);
  private counts = new Float64Array(0);
  private sums = new Float64Array(0);
  private mins = new Float64Array(0);
  private maxs = new Float64Array(0);
  private lasts = new Float64Array(0);
  private lastTs = new Float64Array(0);

  constructor(readonly width: number) {}

  get length(): number {
    return this.size;
  }

  /** Empties the rows (after they are written); the columns stay for the next rows. */
  clear(): void {
    this.size = 0;
  }

  /** Room for one more row: the columns doubled when full. */
  private grow(): void {
    this.capacity = Math.max(1024, this.capacity * 2);
    for (const column of COLUMNS) {
      const wider = new Float64Array(this.capacity);
      wider.set(this[column].subarray(0, this.size));
      this[column] = wider;
    }
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
        if (this.size === this.capacity) this.grow();
        bucket = b;
        at = this.size++;
        this.seriesIds[at] = seriesId;
        this.buckets[at] = b;
        this.counts[at] = 1;
        this.sums[at] = v;
        this.mins[at] = v;
        this.maxs[at] = v;
        this.lasts[at] = v;
        this.lastTs[at] = ts;
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
