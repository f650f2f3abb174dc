import type pg from 'pg';

/** Every `series` and `rollup_1m` row of `db`'s schema as text, sorted: two databases holding the same rows compare equal. */
export async function tableRows(db: pg.Pool): Promise<string[]> {
  const { rows } = await db.query<{ r: string }>("SELECT 'series ' || s::text AS r FROM series s UNION ALL SELECT 'rollup_1m ' || p::text FROM rollup_1m p ORDER BY 1");
  return rows.map((x) => x.r);
}
