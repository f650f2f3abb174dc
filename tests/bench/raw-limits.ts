/**
 * Raw limits of the ingest path's parts on this machine: JetStream publish alone, PostgreSQL COPY alone.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamClient, type JetStreamManager } from 'nats';
import pg from 'pg';
import { MessageFactory, SAMPLES_PER_MESSAGE, SERIES, publishPhase, type PublishResult } from './ingest-load.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// The storage service streams its rows with pg-copy-streams; the bench uses that very library, resolved from
// the package that depends on it (it is not a dependency of the workspace root).
const copyStreams = createRequire(join(ROOT, 'packages', 'metric-store', 'package.json'))('pg-copy-streams') as {
  from(sql: string): Writable & pg.Submittable;
};

/** JetStream alone: the same messages, the same window, into a scratch file-backed stream nobody consumes. */
export async function jetstreamLimit(
  js: JetStreamClient,
  jsm: JetStreamManager,
  prefix: string,
  seconds: number,
  window: number,
): Promise<{ stream: string; perS: number; result: PublishResult }> {
  const stream = `${prefix}_BENCH_SCRATCH`;
  const subject = `${prefix}.benchscratch.ingest`;
  // Like INGEST: file storage, a 2-minute duplicate window (every publish carries a Nats-Msg-Id).
  await jsm.streams.add({
    name: stream,
    subjects: [subject],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(2 * 60_000),
    max_age: nanos(3_600_000),
  });
  const result = await publishPhase({ js, subject, factory: new MessageFactory(), idPrefix: `${prefix}-scratch`, window, durationMs: seconds * 1000 });
  const perS = (result.acked * SAMPLES_PER_MESSAGE) / ((result.lastAckAt - result.firstAt) / 1000);
  return { stream, perS, result };
}

/**
 * PostgreSQL COPY alone: rows (series_id, ts, value) as the storage writes them (text format, ISO timestamps),
 * 10,000 per COPY statement, into a scratch table with a (series_id, ts) b-tree index like `samples`, over one
 * connection. Only the COPY statements are timed (building the text is the bench's work, not PostgreSQL's).
 */
export async function copyLimit(databaseUrl: string, schema: string, seconds: number, chunkRows = 10_000): Promise<{ perS: number; rows: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const table = `${pg.escapeIdentifier(schema)}.copy_scratch`;
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    await client.query(`CREATE TABLE ${table} (series_id bigint NOT NULL, ts timestamptz NOT NULL, value double precision NOT NULL)`);
    await client.query(`CREATE INDEX ON ${table} (series_id, ts)`);
    let rows = 0;
    let copyMs = 0;
    let msg = 0;
    const base = Date.now();
    const wallEnd = performance.now() + seconds * 1000;
    while (performance.now() < wallEnd) {
      // The rows the load's messages become: 100 series per message, a group's ts advancing message by message.
      let text = '';
      for (let r = 0; r < chunkRows; r += SAMPLES_PER_MESSAGE, msg++) {
        const group = msg % (SERIES / SAMPLES_PER_MESSAGE);
        const iso = new Date(base + msg).toISOString();
        for (let i = 0; i < SAMPLES_PER_MESSAGE; i++) text += `${group * SAMPLES_PER_MESSAGE + i + 1}\t${iso}\t${msg + i / 1000}\n`;
      }
      const data = Buffer.from(text);
      const t0 = performance.now();
      await pipeline(Readable.from([data]), client.query(copyStreams.from(`COPY ${table} (series_id, ts, value) FROM STDIN`)));
      copyMs += performance.now() - t0;
      rows += chunkRows;
    }
    return { perS: rows / (copyMs / 1000), rows };
  } finally {
    await client.end();
  }
}

/** Drops the scratch schema of the COPY limit. */
export async function dropScratchSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
