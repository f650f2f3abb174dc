import type pg from 'pg';

/** A table of the suite's schema as a backup sees it. */
export interface TableInfo {
  table: string;
  columns: string[];
  /** The PostgreSQL type (`typname`) of each column. */
  types: string[];
  primaryKey: string[];
}

/** Every base table of `schema`, with its columns in order and its primary key. */
export async function listTables(client: pg.ClientBase, schema: string): Promise<TableInfo[]> {
  const { rows } = await client.query<{ table: string; columns: string[]; types: string[]; pk: string[] | null }>(
    `SELECT c.relname::text AS table,
            array_agg(a.attname::text ORDER BY a.attnum) AS columns,
            array_agg(t.typname::text ORDER BY a.attnum) AS types,
            (SELECT array_agg(pa.attname::text ORDER BY array_position(i.indkey, pa.attnum))
               FROM pg_index i JOIN pg_attribute pa ON pa.attrelid = i.indrelid AND pa.attnum = ANY(i.indkey)
              WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      GROUP BY c.oid, c.relname
      ORDER BY c.relname`,
    [schema],
  );
  return rows.map((r) => ({ table: r.table, columns: r.columns, types: r.types, primaryKey: r.pk ?? [] }));
}
