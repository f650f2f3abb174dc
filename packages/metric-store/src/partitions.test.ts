import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { migrate } from '@terminusa/database';
import { createTestDatabase, type TestNamespace } from '@terminusa/testkit';
import { PartitionManager } from './partitions.ts';

const DAY = 86_400_000;
let ns: TestNamespace;
let pool: pg.Pool;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ ns, pool, cleanup } = await createTestDatabase({ migrate: false }));
});
afterAll(() => cleanup?.());

describe('rollup_1d partitions', () => {
  it('moves the daily partitions of schema version 10 into 30-day ones, every row kept', async () => {
    await migrate(pool, ns.config.database.schema, 10);
    await pool.query(`INSERT INTO series (key, name, tags) VALUES ('m{}', 'm', '{}')`);
    // Version 10 made one partition per day; 40 days spanning two 30-day ranges, plus a row in the default partition.
    const first = Date.UTC(2026, 9, 1);
    for (let d = 0; d < 40; d++) {
      const from = new Date(first + d * DAY);
      const name = `rollup_1d_p${from.toISOString().slice(0, 10).replace(/-/g, '')}`;
      await pool.query(`CREATE TABLE ${name} PARTITION OF rollup_1d FOR VALUES FROM ('${from.toISOString()}') TO ('${new Date(first + (d + 1) * DAY).toISOString()}')`);
    }
    await pool.query(
      `INSERT INTO rollup_1d (series_id, bucket, count, sum, min, max, last, last_ts)
       SELECT (SELECT id FROM series), to_timestamp(($1::bigint + d * $2::bigint) / 1000.0), 1, d, d, d, d, to_timestamp(($1::bigint + d * $2::bigint) / 1000.0)
         FROM generate_series(0, 39) d`,
      [first, DAY],
    );
    await pool.query(`INSERT INTO rollup_1d (series_id, bucket, count, sum, min, max, last, last_ts) SELECT id, '2020-01-01', 1, 7, 7, 7, 7, '2020-01-01' FROM series`);

    await migrate(pool, ns.config.database.schema);

    const partitions = new PartitionManager(pool);
    const listed = await partitions.list('1d');
    expect(listed.every((p) => p.to - p.from === 30 * DAY && p.from % (30 * DAY) === 0)).toBe(true);
    expect(listed[0]!.from).toBeLessThanOrEqual(first);
    expect(listed.at(-1)!.to).toBeGreaterThan(first + 39 * DAY);
    const { rows } = await pool.query<{ n: number; total: number }>('SELECT count(*)::int AS n, sum(sum)::float8 AS total FROM rollup_1d');
    expect(rows[0]).toEqual({ n: 41, total: (39 * 40) / 2 + 7 });
    const inDefault = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM rollup_1d_default');
    expect(inDefault.rows[0]!.n).toBe(1);
    // The storage goes on creating 30-day partitions beside the moved ones.
    await partitions.ensure('1d', first + 80 * DAY, first + 80 * DAY);
    expect((await partitions.list('1d')).length).toBe(listed.length + 1);
  });
});
