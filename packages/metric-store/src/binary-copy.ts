// PostgreSQL's binary COPY format: a signature, flags and header extension, then per row the field count and
// each field as length + big-endian value (length -1: NULL), then -1. Binary rows spare both sides the text:
// no ISO timestamp built here, none parsed by the server.
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 8;
/** PostgreSQL's epoch (2000-01-01) in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 2 ** 32;

/** Where a piece of a binary COPY stream lies in it: the first piece carries the header, the last the trailer. */
export interface CopyPiece {
  first: boolean;
  last: boolean;
}

/**
 * Writes rows of int8, timestamptz and float8 fields as one binary COPY stream, into a buffer sized up front; or as
 * one piece of such a stream, so that a large stream is built a piece at a time while the server reads the last.
 */
export class BinaryCopyWriter {
  private readonly buf: Buffer;
  private at: number;

  /** Room for `rows` rows of `fields` scalar fields each (every one takes at most 12 bytes), plus `arrayBytes` for arrays. */
  constructor(
    rows: number,
    fields: number,
    arrayBytes = 0,
    private readonly piece: CopyPiece = { first: true, last: true },
  ) {
    this.at = piece.first ? HEADER_BYTES : 0;
    this.buf = Buffer.allocUnsafe(this.at + rows * (2 + fields * 12) + arrayBytes + 2);
    if (piece.first) {
      SIGNATURE.copy(this.buf, 0);
      this.buf.writeInt32BE(0, SIGNATURE.length);
      this.buf.writeInt32BE(0, SIGNATURE.length + 4);
    }
  }

  /** Starts a row of `fields` fields. */
  row(fields: number): this {
    this.buf.writeInt16BE(fields, this.at);
    this.at += 2;
    return this;
  }

  /** An int8 field; exact for every integer below 2^53. */
  int8(n: number): this {
    const high = Math.floor(n / TWO_32);
    this.buf.writeInt32BE(8, this.at);
    this.buf.writeInt32BE(high, this.at + 4);
    this.buf.writeUInt32BE(n - high * TWO_32, this.at + 8);
    this.at += 12;
    return this;
  }

  /** A timestamptz field from epoch milliseconds (whole milliseconds, as a JavaScript Date holds them). */
  timestamp(ms: number): this {
    return this.int8((Math.trunc(ms) - PG_EPOCH_MS) * 1000);
  }

  /** A float8 field. */
  float8(v: number): this {
    this.buf.writeInt32BE(8, this.at);
    this.buf.writeDoubleBE(v, this.at + 4);
    this.at += 12;
    return this;
  }

  /**
   * Starts a one-dimensional array field of `length` elements of type `elementOid`, without NULLs; the elements
   * follow as fields (8 bytes each: int8, timestamptz or float8). Takes 24 bytes, then 12 per element.
   */
  array(elementOid: number, length: number): this {
    this.buf.writeInt32BE(20 + 12 * length, this.at);
    this.buf.writeInt32BE(1, this.at + 4);
    this.buf.writeInt32BE(0, this.at + 8);
    this.buf.writeInt32BE(elementOid, this.at + 12);
    this.buf.writeInt32BE(length, this.at + 16);
    this.buf.writeInt32BE(1, this.at + 20);
    this.at += 24;
    return this;
  }

  /** A NULL field. */
  null(): this {
    this.buf.writeInt32BE(-1, this.at);
    this.at += 4;
    return this;
  }

  /** The stream (or piece): header if first, the rows written, trailer if last. */
  finish(): Buffer {
    if (!this.piece.last) return this.buf.subarray(0, this.at);
    this.buf.writeInt16BE(-1, this.at);
    return this.buf.subarray(0, this.at + 2);
  }
}
