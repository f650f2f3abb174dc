import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createTestNamespace, type TestNamespace } from '@terminusa/testkit';
import { createPool, migrate } from '@terminusa/database';
import { PgSampleStore } from './index.ts';

let ns: TestNamespace;
let pool: pg.Pool;

beforeEach(async () => {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'test');
});
afterEach(async () => {
  await pool.end();
  await ns.cleanup();
});

const T = Date.UTC(2026, 10, 25, 23, 58, 30);
const rowsOf = async (sql: string) => (await pool.query<{ r: string }>(sql)).rows.map((x) => x.r);
const everySample = 'SELECT series_id || \' \' || (extract(epoch FROM ts) * 1000)::bigint || \' \' || value AS r FROM samples ORDER BY series_id, ts, value';

describe('raw samples in blocks', () => {
  it('writes one block per series and minute of a batch, and reads back every sample through the samples view', async () => {
    await migrate(pool, ns.config.database.schema);
    const store = new PgSampleStore(pool);
    // Two series, samples over three minutes that cross midnight, one out of order.
    const samples = [0, 20_000, 40_000, 70_000, 10_000, 95_000].flatMap((dt, i) => [
      { name: 'blocks', tags: { host: 'a' }, ts: T + dt, value: i },
      { name: 'blocks', tags: { host: 'b' }, ts: T + dt, value: -i },
    ]);
    expect((await store.write([{ id: 'm1', samples }])).pendingRows).toBe(6);
    const blocks = await rowsOf(
      "SELECT tableoid::regclass || ' ' || array_length(ts, 1) || ' ' || (extract(epoch FROM ts_max - ts_min) * 1000)::int AS r FROM sample_blocks ORDER BY series_id, ts_min",
    );
    // 23:58 holds three samples (one late, so the span is 20 s), 23:59 two, and 00:00 of the next day one, in that day's partition.
    const a = ['sample_blocks_p20261125 3 20000', 'sample_blocks_p20261125 2 30000', 'sample_blocks_p20261126 1 0'];
    expect(blocks).toEqual([...a, ...a]);
    const { rows } = await pool.query<{ n: number; sum: number }>("SELECT count(*)::int AS n, sum(value)::float8 AS sum FROM samples s JOIN series se ON se.id = s.series_id WHERE se.tags->>'host' = 'a'");
    expect(rows[0]).toEqual({ n: 6, sum: 15 });
    expect(await store.history('blocks', { host: 'b' }, T + 20_000, T + 70_000, 100)).toEqual({
      series: [{ name: 'blocks', tags: { host: 'b' }, points: [[T + 20_000, -1], [T + 40_000, -2], [T + 70_000, -3]] }],
      truncated: false,
    });
  });

  it('moves samples stored before version 8 into blocks in day partitions, the same samples as before', async () => {
    const schema = ns.config.database.schema;
    await migrate(pool, schema, 7);
    await pool.query("INSERT INTO series (key, name, tags) VALUES ('old', 'old', '{}')");
    await pool.query(`CREATE TABLE samples_p20261125 PARTITION OF samples FOR VALUES FROM ('2026-11-25T00:00:00Z') TO ('2026-11-26T00:00:00Z')`);
    await pool.query(
      `INSERT INTO samples SELECT (SELECT id FROM series), to_timestamp(($1::bigint + g * 7000) / 1000.0), g FROM generate_series(0, 99) g`,
      [T],
    );
    const before = await rowsOf(everySample);
    await migrate(pool, schema);
    expect(await rowsOf(everySample)).toEqual(before);
    // 100 samples 7 s apart from 23:58:30 to 00:10:03: a block per minute (13 minutes), in the partition of its day.
    const parts = await rowsOf("SELECT tableoid::regclass || ' ' || count(*) || ' ' || sum(array_length(ts, 1)) AS r FROM sample_blocks GROUP BY tableoid ORDER BY 1");
    expect(parts).toEqual(['sample_blocks_p20261125 2 13', 'sample_blocks_p20261126 11 87']);
    expect(await rowsOf("SELECT count(*)::text AS r FROM metrics WHERE type = 'old'")).toEqual(['100']);
  });

  it('turns rows inserted into the samples view (tools, older backups) into blocks of one', async () => {
    await migrate(pool, ns.config.database.schema);
    await pool.query("INSERT INTO series (key, name, tags) VALUES ('k', 'k', '{}')");
    await pool.query("INSERT INTO samples SELECT (SELECT id FROM series), to_timestamp(g), g FROM generate_series(1, 3) g");
    expect(await rowsOf("SELECT array_length(ts, 1) || ' ' || (ts_min = ts_max) AS r FROM sample_blocks")).toEqual(['1 true', '1 true', '1 true']);
    expect(await rowsOf(everySample)).toHaveLength(3);
  });
});
