import { createHash } from 'node:crypto';
import type pg from 'pg';
import { seriesKey, tagsIdentity } from './series-key.ts';

/**
 * Longest series key stored as it is. The key column's unique index takes at most 2,704 bytes a row: a series of a
 * dozen 256-character tag values (ids, hashes) failed its insert, and with it every rollup run. Past this (600
 * characters are at most 2,400 bytes of UTF-8) the key is the name and a hash of the whole key, which no key in
 * `name{…}` notation can equal.
 */
const MAX_STORED_KEY_LENGTH = 600;

/** The `series.key` of a series key: itself, or past MAX_STORED_KEY_LENGTH its name and the key's SHA-256. */
export function storedSeriesKey(name: string, key: string): string {
  return key.length <= MAX_STORED_KEY_LENGTH ? key : `${name}#${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * Series ids kept in memory; past this many the cache starts over rather than grow without bound. Twice the
 * processor's default ingest.maxSeriesTotal (1,000,000), so a full fleet never makes it start over (about 150
 * bytes a series).
 */
const CACHE_LIMIT = 2_000_000;

/** A series to resolve: its name and tags. */
export interface SeriesRef {
  name: string;
  tags: Readonly<Record<string, string>>;
}

/**
 * The `series` table's ids (what the rollup tiers and history reads key series by), created on first sight and
 * cached by name, then tags identity: the samples of a decoded batch share one frozen tags object per series, so
 * the identity is built once per series and the key only for series not seen before.
 */
export class SeriesIds {
  private ids = new Map<string, Map<string, number>>();
  private cached = 0;

  constructor(private readonly db: pg.Pool) {}

  /** The id of each series, creating unknown ones; keys are sorted so concurrent replicas lock rows in one order. */
  async resolve(series: readonly SeriesRef[]): Promise<number[]> {
    const out = new Array<number>(series.length);
    const missing = new Map<string, SeriesRef>();
    const unresolved: [index: number, key: string][] = [];
    for (let i = 0; i < series.length; i++) {
      const s = series[i]!;
      const id = this.ids.get(s.name)?.get(tagsIdentity(s.tags));
      if (id !== undefined) {
        out[i] = id;
        continue;
      }
      const key = storedSeriesKey(s.name, seriesKey(s.name, s.tags));
      unresolved.push([i, key]);
      if (!missing.has(key)) missing.set(key, s);
    }
    if (missing.size === 0) return out;
    const keys = [...missing.keys()].sort();
    const rows = await this.lookUpOrCreate(keys, missing);
    if (this.cached + rows.length > CACHE_LIMIT) {
      this.ids = new Map();
      this.cached = 0;
    }
    const idOfKey = new Map(rows.map((row) => [row.key, Number(row.id)]));
    for (const [key, s] of missing) {
      let byTags = this.ids.get(s.name);
      if (!byTags) this.ids.set(s.name, (byTags = new Map()));
      byTags.set(tagsIdentity(s.tags), idOfKey.get(key)!);
      this.cached++;
    }
    for (const [i, key] of unresolved) out[i] = idOfKey.get(key)!;
    return out;
  }

  /**
   * The ids of `keys` (sorted), creating the series that do not exist. Series that exist are read, not upserted: an
   * upsert writes a new version of every row it returns, so a restarted storage's first rollup run rewrote the
   * whole table (a million rows for the million-series fleet). A key another replica creates meanwhile is not
   * returned by the insert and is read after it.
   */
  private async lookUpOrCreate(keys: readonly string[], missing: ReadonlyMap<string, SeriesRef>): Promise<{ id: string; key: string }[]> {
    const { rows } = await this.db.query<{ id: string; key: string }>(
      `WITH wanted AS (SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS w(key, name, tags)),
         found AS (SELECT s.id, s.key FROM series s JOIN wanted w USING (key)),
         added AS (INSERT INTO series (key, name, tags)
           SELECT w.key, w.name, w.tags FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.key = w.key) ORDER BY w.key
           ON CONFLICT (key) DO NOTHING RETURNING id, key)
       SELECT id, key FROM found UNION ALL SELECT id, key FROM added`,
      [keys, keys.map((k) => missing.get(k)!.name), keys.map((k) => tagsIdentity(missing.get(k)!.tags))],
    );
    if (rows.length === keys.length) return rows;
    const returned = new Set(rows.map((r) => r.key));
    const raced = keys.filter((k) => !returned.has(k));
    const again = await this.db.query<{ id: string; key: string }>('SELECT id, key FROM series WHERE key = ANY($1::text[])', [raced]);
    return [...rows, ...again.rows];
  }
}
