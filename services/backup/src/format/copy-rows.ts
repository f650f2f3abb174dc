/**
 * The two COPY formats a table's chunks are written in. `text` is one row per line, readable and portable
 * across every PostgreSQL version. `binary` spares the server formatting and parsing every timestamp and
 * number, which is most of the work of a backup and a restore of the sample and rollup tables; it is used
 * only for tables whose columns all have fixed binary layouts that PostgreSQL has kept across versions.
 */
export type RowEncoding = 'text' | 'binary';

/** Column types whose binary COPY layout is stable: integers, floats, booleans and timestamps. */
const FIXED_BINARY_TYPES = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'bool', 'timestamp', 'timestamptz']);

/** The encoding for a table with these column types (PostgreSQL `typname`s). */
export function encodingFor(columnTypes: readonly string[]): RowEncoding {
  return columnTypes.length > 0 && columnTypes.every((t) => FIXED_BINARY_TYPES.has(t)) ? 'binary' : 'text';
}

/** The option that makes COPY use `encoding`. */
export function copyOptions(encoding: RowEncoding): string {
  return encoding === 'binary' ? ' (FORMAT binary)' : '';
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags (none) and header extension length (none): what starts every binary stream written here. */
const BINARY_HEADER = Buffer.concat([SIGNATURE, Buffer.alloc(8)]);
const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/** What a chunk of `encoding` starts and ends with around its rows, so each chunk is one complete COPY stream. */
export function framing(encoding: RowEncoding): { header: Buffer; trailer: Buffer } {
  return encoding === 'binary' ? { header: BINARY_HEADER, trailer: BINARY_TRAILER } : { header: Buffer.alloc(0), trailer: Buffer.alloc(0) };
}

/** Complete rows found in the data pushed so far: their bytes, back to back, and where each row ends in them. */
export interface Rows {
  bytes: Buffer;
  ends: number[];
}

/**
 * Cuts a COPY stream into whole rows, whatever the boundaries of the buffers it arrives in; a binary stream's
 * header and trailer are consumed, not returned.
 */
export interface RowScanner {
  push(data: Buffer): Rows;
  /** Throws when the stream ended inside a row (or, binary, before its header). */
  end(): void;
}

/** A scanner for a stream of `encoding`. */
export function rowScanner(encoding: RowEncoding): RowScanner {
  return encoding === 'binary' ? new BinaryRowScanner() : new TextRowScanner();
}

const NEWLINE = 0x0a;

class TextRowScanner implements RowScanner {
  private partial = Buffer.alloc(0);

  push(data: Buffer): Rows {
    const buf = this.partial.length ? Buffer.concat([this.partial, data]) : data;
    const ends: number[] = [];
    for (let i = buf.indexOf(NEWLINE); i !== -1; i = buf.indexOf(NEWLINE, i + 1)) ends.push(i + 1);
    const cut = ends.length ? ends[ends.length - 1]! : 0;
    this.partial = Buffer.from(buf.subarray(cut));
    return { bytes: buf.subarray(0, cut), ends };
  }

  end(): void {
    if (this.partial.length) throw new Error(`COPY text ends inside a row (${this.partial.length} bytes after the last newline)`);
  }
}

class BinaryRowScanner implements RowScanner {
  private pending = Buffer.alloc(0);
  private headerSeen = false;
  private trailerSeen = false;

  push(data: Buffer): Rows {
    if (this.trailerSeen) {
      if (data.length) throw new Error(`binary COPY stream has ${data.length} bytes after its trailer`);
      return { bytes: Buffer.alloc(0), ends: [] };
    }
    let buf = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    if (!this.headerSeen) {
      if (buf.length < BINARY_HEADER.length) {
        this.pending = Buffer.from(buf);
        return { bytes: Buffer.alloc(0), ends: [] };
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not a binary COPY stream (bad signature)');
      const extension = buf.readUInt32BE(SIGNATURE.length + 4);
      if (buf.length < BINARY_HEADER.length + extension) {
        this.pending = Buffer.from(buf);
        return { bytes: Buffer.alloc(0), ends: [] };
      }
      buf = buf.subarray(BINARY_HEADER.length + extension);
      this.headerSeen = true;
    }
    const ends: number[] = [];
    let at = 0;
    while (at + 2 <= buf.length) {
      const fields = buf.readInt16BE(at);
      if (fields === -1) {
        this.trailerSeen = true;
        break;
      }
      let next = at + 2;
      for (let f = 0; f < fields && next <= buf.length; f++) {
        if (next + 4 > buf.length) {
          next = buf.length + 1;
          break;
        }
        const len = buf.readInt32BE(next);
        next += 4 + Math.max(0, len);
      }
      if (next > buf.length) break;
      at = next;
      ends.push(at);
    }
    const rest = this.trailerSeen ? buf.length - (at + 2) : 0;
    if (rest > 0) throw new Error(`binary COPY stream has ${rest} bytes after its trailer`);
    this.pending = this.trailerSeen ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return { bytes: buf.subarray(0, at), ends };
  }

  end(): void {
    if (!this.headerSeen) throw new Error('binary COPY stream ends before its header');
    if (this.pending.length) throw new Error(`binary COPY stream ends inside a row (${this.pending.length} bytes)`);
    if (!this.trailerSeen) throw new Error('binary COPY stream ends without its trailer');
  }
}
