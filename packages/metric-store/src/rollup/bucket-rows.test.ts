import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { createTestDatabase } from '@terminusa/testkit';
import { BucketRows } from './bucket-rows.ts';

let pool: pg.Pool;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ pool, cleanup } = await createTestDatabase({ migrate: false }));
});
afterAll(() => cleanup?.());

/** COPYs `rows` into a fresh temporary table of the rollup columns, in pieces of `rowsPerPiece`, and reads them back. */
async function copied(rows: BucketRows, rowsPerPiece: number, table: string): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query(`CREATE TEMP TABLE ${table} (series_id bigint, bucket timestamptz, count bigint, sum float8, min float8, max float8, last float8, last_ts timestamptz)`);
    await pipeline(Readable.from(rows.copyData(rowsPerPiece)), client.query(copyStreams.from(`COPY ${table} FROM STDIN (FORMAT binary)`)));
    const { rows: back } = await client.query<{ r: string }>(`SELECT concat_ws(' ', series_id, (extract(epoch FROM bucket) * 1000)::bigint, count, sum, min, max, last, (extract(epoch FROM last_ts) * 1000)::bigint) AS r FROM ${table} ORDER BY series_id, bucket`);
    return back.map((x) => x.r);
  } finally {
    client.release();
  }
}

describe('BucketRows', () => {
  it('reduces each series and bucket to count, sum, min, max and the newest sample, and COPYs the same rows whole or in pieces', async () => {
    const rows = new BucketRows(60_000);
    // Three series, samples every 15 s over 10 minutes: 30 rows of four samples each.
    const timestamps = Array.from({ length: 40 }, (_, i) => 1_800_000_000_000 + i * 15_000);
    for (const id of [1, 2, 3]) rows.add(id, timestamps, timestamps.map((_, i) => id * 100 + (i % 7) - 0.5), 0, Infinity);
    expect(rows.length).toBe(30);

    const expected = [1, 2, 3].flatMap((id) =>
      Array.from({ length: 10 }, (_, m) => {
        const values = [0, 1, 2, 3].map((k) => id * 100 + ((m * 4 + k) % 7) - 0.5);
        const bucket = timestamps[m * 4]!;
        return [id, bucket, 4, values.reduce((a, b) => a + b, 0), Math.min(...values), Math.max(...values), values[3], bucket + 45_000].join(' ');
      }),
    );
    // One piece, then pieces of 7 rows (the last one short), then a piece per row.
    expect(await copied(rows, 20_000, 'whole')).toEqual(expected);
    expect(await copied(rows, 7, 'sevens')).toEqual(expected);
    expect(await copied(rows, 1, 'singles')).toEqual(expected);
  });

  it('COPYs no rows as a valid empty stream', async () => {
    expect(await copied(new BucketRows(60_000), 20_000, 'empty')).toEqual([]);
  });
});
