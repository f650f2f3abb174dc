import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { withTransaction } from '@terminusa/database';
import type { Sample } from '@terminusa/bus';
import { seriesKey, sortTags, tagsIdentity } from './series-key.ts';
import { PartitionManager } from './partitions.ts';
import { groupByMinute, pendingRows, sampleBlockRows } from './minute-groups.ts';
import { rawSamplesSql } from './raw-samples.ts';

/** Series ids kept in memory; past this many the cache starts over rather than grow without bound. */
const SERIES_CACHE_LIMIT = 1_000_000;

/** One series with its points, as history queries return it. */
export interface SeriesPoints {
  name: string;
  tags: Record<string, string>;
  points: [ts: number, value: number][];
}

/** Samples of one bus message, stored together or not at all. */
export interface SampleMessage {
  /** The message's idempotency key (its Nats-Msg-Id): a message seen before is skipped. */
  id: string;
  samples: readonly Sample[];
}

/** Outcome of a write. */
export interface WriteResult {
  stored: number;
  /** Messages that had been stored before (redeliveries). */
  duplicates: number;
  /** Rows written for the fold (and raw blocks): one per series and minute of the batch, so stored / pendingRows is how much a batch reduced. */
  pendingRows: number;
}

/** Streams `data` into the server with a COPY … FROM STDIN statement. */
async function copyIn(client: pg.PoolClient, statement: string, data: Buffer): Promise<void> {
  await pipeline(Readable.from([data]), client.query(copyStreams.from(statement)));
}

/**
 * Sample history in PostgreSQL: series identities, raw samples in daily partitions as blocks (the samples of a
 * series in one minute of a batch), and the samples waiting to be folded into the rollups, reduced alike. A
 * message's samples and its idempotency record commit in one transaction, so a redelivered message stores
 * nothing twice, without a unique index on every sample.
 */
export class PgSampleStore {
  /** Series ids by metric name, then by tags identity (tagsIdentity). */
  private seriesIds = new Map<string, Map<string, number>>();
  private cachedIds = 0;
  private readonly partitions: PartitionManager;

  constructor(private readonly pool: pg.Pool) {
    this.partitions = new PartitionManager(pool);
  }

  /** Stores the samples of messages not seen before, in one transaction, streamed with COPY. */
  async write(messages: readonly SampleMessage[]): Promise<WriteResult> {
    if (messages.length === 0) return { stored: 0, duplicates: 0, pendingRows: 0 };
    // The same message twice in one batch (a redelivery overtaking its original) counts once.
    const unique = [...new Map(messages.map((m) => [m.id, m])).values()];
    let min = Infinity;
    let max = -Infinity;
    for (const m of unique) for (const s of m.samples) {
      if (s.ts < min) min = s.ts;
      if (s.ts > max) max = s.ts;
    }
    if (min <= max) await this.partitions.ensure('raw', min, max);
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ id: string }>('INSERT INTO ingested_messages (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING id', [unique.map((m) => m.id)]);
      const fresh = new Set(rows.map((r) => r.id));
      const samples = unique.filter((m) => fresh.has(m.id)).flatMap((m) => m.samples);
      let pending = 0;
      if (samples.length > 0) {
        const ids = await this.resolveSeries(client, samples);
        const groups = groupByMinute(ids, samples);
        await copyIn(client, 'COPY sample_blocks (series_id, ts_min, ts_max, ts, value) FROM STDIN (FORMAT binary)', sampleBlockRows(groups, samples));
        await copyIn(client, 'COPY rollup_pending (series_id, ts, value, count, sum, min, max) FROM STDIN (FORMAT binary)', pendingRows(groups));
        pending = groups.length;
      }
      return { stored: samples.length, duplicates: unique.length - fresh.size, pendingRows: pending };
    });
  }

  /** Stores samples as one new message (for tools and tests that have no bus message). */
  async insert(samples: readonly Sample[]): Promise<number> {
    return (await this.write([{ id: randomUUID(), samples }])).stored;
  }

  /** Series id of each sample, creating unknown series; keys are sorted so concurrent replicas lock in one order. */
  private async resolveSeries(client: pg.PoolClient, samples: readonly Sample[]): Promise<number[]> {
    // Looked up by name, then by the tags' identity, which a decoded batch builds once per series; the series
    // key is built only for series not seen before.
    const ids = new Array<number>(samples.length);
    const missing = new Map<string, Sample>();
    const unresolved: [index: number, key: string][] = [];
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i]!;
      const id = this.seriesIds.get(s.name)?.get(tagsIdentity(s.tags));
      if (id !== undefined) {
        ids[i] = id;
        continue;
      }
      const key = seriesKey(s.name, s.tags);
      unresolved.push([i, key]);
      if (!missing.has(key)) missing.set(key, s);
    }
    if (missing.size > 0) {
      const sortedKeys = [...missing.keys()].sort();
      const { rows } = await client.query<{ id: string; key: string }>(
        `INSERT INTO series (key, name, tags)
         SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
         ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
         RETURNING id, key`,
        [sortedKeys, sortedKeys.map((k) => missing.get(k)!.name), sortedKeys.map((k) => tagsIdentity(missing.get(k)!.tags))],
      );
      if (this.cachedIds + rows.length > SERIES_CACHE_LIMIT) {
        this.seriesIds = new Map();
        this.cachedIds = 0;
      }
      const idOfKey = new Map(rows.map((row) => [row.key, Number(row.id)]));
      for (const [key, s] of missing) {
        let byTags = this.seriesIds.get(s.name);
        if (!byTags) this.seriesIds.set(s.name, (byTags = new Map()));
        byTags.set(tagsIdentity(s.tags), idOfKey.get(key)!);
        this.cachedIds++;
      }
      for (const [i, key] of unresolved) ids[i] = idOfKey.get(key)!;
    }
    return ids;
  }

  /** Names of every metric with stored series, sorted; a walk of the name index, one probe per distinct name. */
  async names(): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      `WITH RECURSIVE n AS (
         (SELECT name FROM series ORDER BY name LIMIT 1)
         UNION ALL
         SELECT (SELECT s.name FROM series s WHERE s.name > n.name ORDER BY s.name LIMIT 1) FROM n WHERE n.name IS NOT NULL
       )
       SELECT name FROM n WHERE name IS NOT NULL`,
    );
    return rows.map((r) => r.name);
  }

  /** Raw points of every series of `name` whose tags include `tags`, between `from` and `to` (epoch ms, inclusive). */
  async history(name: string, tags: Record<string, string>, from: number, to: number, maxPoints: number): Promise<{ series: SeriesPoints[]; truncated: boolean }> {
    const { rows } = await this.pool.query<{ id: string; tags: Record<string, string>; ts: string; value: number }>(
      `SELECT s.id, s.tags, round(extract(epoch FROM p.ts) * 1000)::bigint AS ts, p.value
         FROM series s CROSS JOIN LATERAL (${rawSamplesSql('s.id', 'to_timestamp($3 / 1000.0)', 'to_timestamp($4 / 1000.0)', true)}) p
        WHERE s.name = $1 AND s.tags @> $2::jsonb
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
