import pg from 'pg';

/**
 * How a row of the deletion log (alias `d`) meets the row of `table` (alias `t`) it names: `lateral` gives the logged
 * key its columns' own types (`k`, by jsonb_populate_record, whatever the key's columns are), `matches` compares it
 * with the row's primary key.
 */
export function loggedKeyJoin(table: string, primaryKey: readonly string[]): { lateral: string; matches: string } {
  const pk = primaryKey.map((c) => pg.escapeIdentifier(c));
  return {
    lateral: `LATERAL jsonb_populate_record(NULL::${table}, d.key) k`,
    matches: `(${pk.map((c) => `t.${c}`).join(', ')}) = (${pk.map((c) => `k.${c}`).join(', ')})`,
  };
}
