import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Sample } from '@terminusa/bus';
import { importLines } from './engine/import-lines.ts';
import type { VictoriaMetrics } from './engine/victoria-metrics.ts';
import { markLate } from './rollup/dirty-minutes.ts';
import { SeriesIds } from './series-ids.ts';

/** Samples of one bus message (one ingest message under its idempotency id). */
export interface SampleMessage {
  id: string;
  samples: readonly Sample[];
}

/** Outcome of a write. */
export interface WriteResult {
  stored: number;
  /** (metric, minute) pairs marked for their rollups to be computed again: samples that came after them. */
  lateMinutes: number;
}

/**
 * Raw samples in the time-series engine, exactly once. A write resolves only when the engine holds the samples
 * on disk ({@link VictoriaMetrics.sync}); the engine keeps one sample per series and timestamp
 * (`-dedup.minScrapeInterval=1ms`), so a redelivered message writes nothing twice. New series are also recorded
 * in PostgreSQL (the rollups' and history's series ids), and minutes whose rollups were already computed are
 * marked to be computed again, both after the engine holds the samples, so whoever reads a mark finds them there.
 */
export class SampleStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly engine: VictoriaMetrics,
    /** Shared with the rollups in one process, so each series' id is held once. */
    private readonly series = new SeriesIds(pool),
  ) {}

  async write(messages: readonly SampleMessage[]): Promise<WriteResult> {
    const samples = messages.length === 1 ? messages[0]!.samples : messages.flatMap((m) => m.samples);
    if (samples.length === 0) return { stored: 0, lateMinutes: 0 };
    await this.series.resolve(samples);
    await this.engine.import(importLines(samples));
    await this.engine.sync();
    const lateMinutes = await markLate(this.pool, samples);
    return { stored: samples.length, lateMinutes };
  }

  /** Stores samples as one new message (tools and tests that have no bus message). */
  async insert(samples: readonly Sample[]): Promise<number> {
    return (await this.write([{ id: randomUUID(), samples }])).stored;
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
}
