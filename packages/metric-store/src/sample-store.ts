import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { isStaleMarker, type Sample } from '@terminusa/bus';
import { importLines } from './engine/import-lines.ts';
import { EngineError, type VictoriaMetrics } from './engine/victoria-metrics.ts';
import { markLate } from './rollup/dirty-minutes.ts';

/** Samples of one bus message (one ingest message under its idempotency id). */
export interface SampleMessage {
  id: string;
  samples: readonly Sample[];
}

/** Outcome of a write. */
export interface WriteResult {
  /** Samples written; staleness markers are not samples (the engine's exports and counts leave them out). */
  stored: number;
  /** Staleness markers written (series that stopped). */
  staleMarkers: number;
  /** (metric, minute) pairs marked for their rollups to be computed again: samples that came after them. */
  lateMinutes: number;
}

/**
 * Raw samples in the time-series engine, exactly once. A write resolves only when the engine holds the samples
 * on disk ({@link VictoriaMetrics.sync}); the engine keeps one sample per series and timestamp
 * (`-dedup.minScrapeInterval=1ms`), so a redelivered message writes nothing twice. Minutes whose rollups were
 * already computed are then marked to be computed again, after the engine holds the samples, so whoever reads a
 * mark finds them there. Nothing else touches PostgreSQL: new series get their ids from the rollups, and history
 * finds series the rollups have not seen yet in the engine (a fleet's first minute was a million upserts here).
 */
export class SampleStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly engine: VictoriaMetrics,
  ) {}

  async write(messages: readonly SampleMessage[]): Promise<WriteResult> {
    const all = messages.length === 1 ? messages[0]!.samples : messages.flatMap((m) => m.samples);
    if (all.length === 0) return { stored: 0, staleMarkers: 0, lateMinutes: 0 };
    // Staleness markers are rare (a series stops) and take another way in; they change no rollup.
    const stale = all.filter(isStaleMarker);
    const samples = stale.length === 0 ? all : all.filter((s) => !isStaleMarker(s));
    const marks = await Promise.all([this.engine.import(importLines(samples)), ...(stale.length ? [this.engine.writeStaleMarkers(stale)] : [])]);
    await Promise.all(marks.map((mark) => this.engine.sync(mark)));
    const lateMinutes = await markLate(this.pool, samples);
    return { stored: samples.length, staleMarkers: stale.length, lateMinutes };
  }

  /** Stores samples as one new message (tools and tests that have no bus message); returns the samples written. */
  async insert(samples: readonly Sample[]): Promise<number> {
    return (await this.write([{ id: randomUUID(), samples }])).stored;
  }

  /**
   * The names with raw samples in the engine's last day. A namespace of more series than the engine's
   * -search.maxUniqueTimeseries (300,000) is refused the list; the names it counts per day (its 1,000 largest) stand
   * in, so that a large fleet still gets its names rather than an error.
   */
  private async recentNames(now: number): Promise<string[]> {
    try {
      return await this.engine.names(now - 86_400_000, now);
    } catch (err) {
      if (!(err instanceof EngineError && err.status === 422)) throw err;
      const days = await Promise.all([now - 86_400_000, now].map((at) => this.engine.seriesCountByName(at)));
      return [...new Set(days.flatMap((counts) => [...counts.keys()]))];
    }
  }

  /** Names of every metric with stored series, sorted: those of the rollups' series and those in the engine's last day. */
  async names(now = Date.now()): Promise<string[]> {
    // A walk of the name index, one probe per distinct name.
    const rollups = this.pool.query<{ name: string }>(
      `WITH RECURSIVE n AS (
         (SELECT name FROM series ORDER BY name LIMIT 1)
         UNION ALL
         SELECT (SELECT s.name FROM series s WHERE s.name > n.name ORDER BY s.name LIMIT 1) FROM n WHERE n.name IS NOT NULL
       )
       SELECT name FROM n WHERE name IS NOT NULL`,
    );
    const [{ rows }, recent] = await Promise.all([rollups, this.recentNames(now)]);
    return [...new Set([...rows.map((r) => r.name), ...recent])].sort();
  }
}
