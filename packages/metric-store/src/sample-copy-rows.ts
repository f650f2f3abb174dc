import type { Sample } from '@terminusa/bus';
import { BinaryCopyWriter } from './binary-copy.ts';

/** The `(series_id, ts, value)` rows of `samples`, whose series ids are `ids`, as a binary COPY stream. */
export function sampleCopyRows(ids: readonly number[], samples: readonly Sample[]): Buffer {
  const out = new BinaryCopyWriter(samples.length, 3);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    out.row(3).int8(ids[i]!).timestamp(s.ts).float8(s.value);
  }
  return out.finish();
}
