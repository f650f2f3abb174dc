import type pg from 'pg';
import { withTransaction } from '@terminusa/database';
import type { Sample } from '@terminusa/bus';
import { seriesKey, sortTags } from './series-key.ts';

/** Series ids kept in memory; past this many the cache starts over rather than grow without bound. */
const SERIES_CACHE_LIMIT = 1_000_000;

/** One series with its points, as history queries return it. */
export interface SeriesPoints {
  name: string;
  tags: Record<string, string>;
  points: [ts: number, value: number][];
}

/** Sample history in PostgreSQL: series identities plus (series, ts, value) rows, keyed so a repeat is a no-op. */
export class PgSampleStore {
  private readonly seriesIds = new Map<string, number>();

  constructor(private readonly pool: pg.Pool) {}

  /** Stores samples in one transaction; returns how many were new (a redelivered sample is not stored twice). */
  async insert(samples: readonly Sample[]): Promise<number> {
    if (samples.length === 0) return 0;
    return withTransaction(this.pool, async (client) => {
      const ids = await this.resolveSeries(client, samples);
      const seriesCol: number[] = new Array(samples.length);
      const tsCol: number[] = new Array(samples.length);
      const valueCol: number[] = new Array(samples.length);
      samples.forEach((s, i) => {
        seriesCol[i] = ids[i]!;
        tsCol[i] = s.ts;
        valueCol[i] = s.value;
      });
      const result = await client.query(
        `INSERT INTO samples (series_id, ts, value)
         SELECT s, to_timestamp(t / 1000.0), v FROM unnest($1::bigint[], $2::float8[], $3::float8[]) AS u(s, t, v)
         ON CONFLICT DO NOTHING`,
        [seriesCol, tsCol, valueCol],
      );
      return result.rowCount ?? 0;
    });
  }

  /** Series id of each sample, creating unknown series; keys are sorted so concurrent replicas lock in one order. */
  private async resolveSeries(client: pg.PoolClient, samples: readonly Sample[]): Promise<number[]> {
    const keys = samples.map((s) => seriesKey(s.name, s.tags));
    const missing = new Map<string, Sample>();
    keys.forEach((key, i) => {
      if (!this.seriesIds.has(key)) missing.set(key, samples[i]!);
    });
    if (missing.size > 0) {
      const sortedKeys = [...missing.keys()].sort();
      const { rows } = await client.query<{ id: string; key: string }>(
        `INSERT INTO series (key, name, tags)
         SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
         ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
         RETURNING id, key`,
        [sortedKeys, sortedKeys.map((k) => missing.get(k)!.name), sortedKeys.map((k) => JSON.stringify(sortTags(missing.get(k)!.tags)))],
      );
      if (this.seriesIds.size + rows.length > SERIES_CACHE_LIMIT) this.seriesIds.clear();
      for (const row of rows) this.seriesIds.set(row.key, Number(row.id));
    }
    return keys.map((k) => this.seriesIds.get(k)!);
  }

  /** Raw points of every series of `name` whose tags include `tags`, between `from` and `to` (epoch ms, inclusive). */
  async history(name: string, tags: Record<string, string>, from: number, to: number, maxPoints: number): Promise<{ series: SeriesPoints[]; truncated: boolean }> {
    const { rows } = await this.pool.query<{ id: string; tags: Record<string, string>; ts: string; value: number }>(
      `SELECT s.id, s.tags, round(extract(epoch FROM p.ts) * 1000)::bigint AS ts, p.value
         FROM series s JOIN samples p ON p.series_id = s.id
        WHERE s.name = $1 AND s.tags @> $2::jsonb
          AND p.ts >= to_timestamp($3 / 1000.0) AND p.ts <= to_timestamp($4 / 1000.0)
        ORDER BY s.id, p.ts
        LIMIT $5`,
      [name, JSON.stringify(tags), from, to, maxPoints + 1],
    );
    const truncated = rows.length > maxPoints;
    const bySeries = new Map<string, SeriesPoints>();
    for (const row of rows.slice(0, maxPoints)) {
      let entry = bySeries.get(row.id);
      if (!entry) bySeries.set(row.id, (entry = { name, tags: sortTags(row.tags), points: [] }));
      entry.points.push([Number(row.ts), row.value]);
    }
    return { series: [...bySeries.values()], truncated };
  }
}
