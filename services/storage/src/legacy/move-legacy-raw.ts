import type pg from 'pg';
import { withTransaction } from '@terminusa/database';
import { importLines, type VictoriaMetrics, type WriteMark } from '@terminusa/metric-store';
import type { Sample } from '@terminusa/bus';

/** Blocks read and written to the engine at a time. */
const CHUNK = 5_000;

/**
 * Moves the raw samples an older version kept in PostgreSQL (migration 10 renamed them `legacy_sample_blocks`)
 * into the engine, then drops them. Their rollups were computed back then, so only the raw samples move. The
 * engine keeps one sample per series and timestamp, so a move cut short is simply run again.
 */
export async function moveLegacyRaw(pool: pg.Pool, engine: VictoriaMetrics): Promise<{ blocks: number; samples: number }> {
  const { rows } = await pool.query<{ present: boolean }>("SELECT to_regclass('legacy_sample_blocks') IS NOT NULL AS present");
  if (!rows[0]!.present) return { blocks: 0, samples: 0 };
  let blocks = 0;
  let samples = 0;
  let first: WriteMark | undefined;
  await withTransaction(pool, async (client) => {
    await client.query(`DECLARE legacy NO SCROLL CURSOR FOR
      SELECT s.name, s.tags, array(SELECT round(extract(epoch FROM t) * 1000)::float8 FROM unnest(b.ts) t) AS ts, b.value
        FROM legacy_sample_blocks b JOIN series s ON s.id = b.series_id`);
    for (;;) {
      const { rows: chunk } = await client.query<{ name: string; tags: Record<string, string>; ts: number[]; value: number[] }>(`FETCH ${CHUNK} FROM legacy`);
      if (chunk.length === 0) break;
      const batch: Sample[] = [];
      for (const b of chunk) b.ts.forEach((ts, i) => batch.push({ name: b.name, tags: b.tags, ts, value: b.value[i]! }));
      const mark = await engine.import(importLines(batch));
      first ??= mark;
      blocks += chunk.length;
      samples += batch.length;
    }
    await client.query('CLOSE legacy');
  });
  await engine.sync(first);
  await pool.query('DROP TABLE legacy_sample_blocks CASCADE');
  return { blocks, samples };
}
