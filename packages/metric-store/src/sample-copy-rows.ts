import type { Sample } from '@terminusa/bus';

// PostgreSQL's binary COPY format: a signature, flags and header extension, then per row the field count and
// each field as length + big-endian value, then -1. Binary rows spare both sides the text: no ISO timestamp
// built here, none parsed by the server.
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 8;
const ROW_BYTES = 2 + 3 * (4 + 8);
/** PostgreSQL's epoch (2000-01-01) in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 2 ** 32;

/** The `(series_id, ts, value)` rows of `samples`, whose series ids are `ids`, as a binary COPY stream. */
export function sampleCopyRows(ids: readonly number[], samples: readonly Sample[]): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + samples.length * ROW_BYTES + 2);
  SIGNATURE.copy(buf, 0);
  buf.writeInt32BE(0, SIGNATURE.length);
  buf.writeInt32BE(0, SIGNATURE.length + 4);
  let at = HEADER_BYTES;
  const int64 = (n: number) => {
    // Exact for every integer below 2^53; a timestamp in microseconds stays far below.
    const high = Math.floor(n / TWO_32);
    buf.writeInt32BE(8, at);
    buf.writeInt32BE(high, at + 4);
    buf.writeUInt32BE(n - high * TWO_32, at + 8);
    at += 12;
  };
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    buf.writeInt16BE(3, at);
    at += 2;
    int64(ids[i]!);
    // Whole milliseconds, as the text format's Date gave.
    int64((Math.trunc(s.ts) - PG_EPOCH_MS) * 1000);
    buf.writeInt32BE(8, at);
    buf.writeDoubleBE(s.value, at + 4);
    at += 12;
  }
  buf.writeInt16BE(-1, at);
  return buf;
}
