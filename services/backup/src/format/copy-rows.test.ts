import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { TEST_SERVERS } from '@terminusa/testkit';
import { encodingFor, framing, rowScanner, type RowEncoding } from './copy-rows.ts';

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: TEST_SERVERS.databaseUrl });
  await client.connect();
});
afterAll(() => client?.end());

/** What PostgreSQL's COPY TO writes for `query` in `encoding`. */
async function copyOut(query: string, encoding: RowEncoding): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of client.query(copyStreams.to(`COPY (${query}) TO STDOUT${encoding === 'binary' ? ' (FORMAT binary)' : ''}`)) as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

/** Pushes `data` in pieces of `size` bytes; returns the rows found and the concatenated row bytes. */
function scan(encoding: RowEncoding, data: Buffer, size: number): { rows: number; bytes: Buffer } {
  const scanner = rowScanner(encoding);
  const out: Buffer[] = [];
  let rows = 0;
  for (let at = 0; at < data.length; at += size) {
    const found = scanner.push(data.subarray(at, at + size));
    rows += found.ends.length;
    expect(found.ends.at(-1) ?? 0).toBe(found.bytes.length);
    out.push(found.bytes);
  }
  scanner.end();
  return { rows, bytes: Buffer.concat(out) };
}

// Rows with NULLs, empty and multi-byte text, and numbers, so field lengths vary.
const QUERY = `SELECT g AS id, CASE WHEN g % 3 = 0 THEN NULL ELSE repeat('é', g % 5) END AS label, g * 1.5::float8 AS value,
               to_timestamp(1764115200 + g) AS ts FROM generate_series(1, 50) g`;

describe('COPY row scanners', () => {
  it('find every row of a binary COPY stream however it is cut, without its header and trailer', async () => {
    const data = await copyOut(QUERY, 'binary');
    const { header, trailer } = framing('binary');
    for (const size of [1, 2, 7, 19, 64, data.length]) {
      const { rows, bytes } = scan('binary', data, size);
      expect(rows).toBe(50);
      // Framing the rows again gives back the stream PostgreSQL wrote.
      expect(Buffer.concat([header, bytes, trailer]).equals(data)).toBe(true);
    }
  });

  it('find every line of a text COPY stream however it is cut', async () => {
    const data = await copyOut(QUERY, 'text');
    for (const size of [1, 3, 64, data.length]) expect(scan('text', data, size)).toEqual({ rows: 50, bytes: data });
  });

  it('refuse a stream that ends inside a row, lacks its trailer or has bytes after it', async () => {
    const data = await copyOut(QUERY, 'binary');
    expect(() => scan('binary', data.subarray(0, data.length - 5), 64)).toThrow(/ends inside a row/);
    expect(() => scan('binary', data.subarray(0, data.length - 2), 64)).toThrow(/without its trailer/);
    expect(() => scan('binary', Buffer.concat([data, Buffer.from('x')]), 64)).toThrow(/after its trailer/);
    expect(() => scan('binary', Buffer.from('not a copy stream at all'), 64)).toThrow(/bad signature/);
    expect(() => scan('text', Buffer.from('1\t2\n3\t'), 2)).toThrow(/ends inside a row/);
  });

  it('choose binary only for tables of fixed-layout columns', () => {
    expect(encodingFor(['int8', 'timestamptz', 'float8'])).toBe('binary');
    expect(encodingFor(['int8', 'text', 'jsonb'])).toBe('text');
    expect(encodingFor([])).toBe('text');
  });
});
