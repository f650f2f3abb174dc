/**
 * Compares our backup / restore / verify with pg_dump / pg_restore on the same machine and the same data, with the
 * shipped settings on both sides: our restore loads `core.workers` tables at once (`recovery.parallelRestore`), and
 * pg_restore runs with as many jobs (`pg_restore -j <workers>`). Both restore into nothing: pg_restore creates the
 * schema from the dump, ours migrates a fresh schema as a restore drill does (`prepareTarget`), and that time counts
 * in ours as pg_restore's DDL counts in its.
 *
 *   BENCH_ROWS=200000 BENCH_ROUNDS=1 pnpm bench:backup      (default 5,000,000 rollup_1m rows, 2 rounds)
 *
 * The big table is `rollup_1m` (raw samples live in the time-series engine, whose snapshot this does not time).
 *
 * Prints a table of the figures, then as the last line one JSON object for scripts to pick up.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Config } from '@terminusa/config';
import { createPool, migrate } from '@terminusa/database';
import { createTestNamespace, type TestNamespace } from '@terminusa/testkit';
import { BackupOperations } from '../../services/backup/src/backup-operations.ts';

const run = promisify(execFile);
const SERIES = 10_000;
const ROWS = Number(process.env.BENCH_ROWS ?? 5_000_000);
if (!Number.isInteger(ROWS) || ROWS < SERIES || ROWS % SERIES !== 0) {
  throw new Error(`BENCH_ROWS must be a positive multiple of ${SERIES}, got ${process.env.BENCH_ROWS}`);
}

/** Restores of each kind, taking turns; the best of each is compared. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

const MB = 1024 * 1024;
const round = (n: number) => Math.round(n * 100) / 100;
const fmt = (n: number, digits = 2) => n.toFixed(digits);

async function timed<T>(what: string, fn: () => Promise<T>): Promise<{ value: T; s: number }> {
  const t0 = performance.now();
  const value = await fn();
  const s = (performance.now() - t0) / 1000;
  console.log(`${what}: ${fmt(s)} s`);
  return { value, s };
}

function dbUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Our restore into a schema that does not exist yet: the restore verifies the chain, then creates and migrates the
 * schema (as a restore drill's `prepareTarget` does), then loads the rows. The schema is dropped afterwards.
 */
async function ourRestore(config: Readonly<Config>, id: string, targetSchema: string, r: number) {
  const target = createPool({ ...config.database, schema: targetSchema }, 'backup-bench-restore');
  try {
    // restore() writes into the schema of its own configuration, so the target needs its own operations.
    const restoreOps = new BackupOperations({ ...config, database: { ...config.database, schema: targetSchema } }, target);
    const restoreStart = performance.now();
    let schemaFrom = NaN;
    let schemaUntil = NaN;
    const { value, s } = await timed(`our restore (round ${r})`, () =>
      restoreOps.restore(id, target, {
        prepareTarget: async () => {
          schemaFrom = performance.now();
          await migrate(target, targetSchema);
          schemaUntil = performance.now();
        },
      }),
    );
    const { rows } = await target.query<{ n: string }>('SELECT count(*)::text AS n FROM rollup_1m');
    if (Number(rows[0]!.n) !== ROWS) throw new Error(`restore gave ${rows[0]!.n} rollup rows, expected ${ROWS}`);
    // Before prepareTarget the restore verifies the chain; after it, rows are loaded.
    return { s, value, verifyS: (schemaFrom - restoreStart) / 1000, schemaS: (schemaUntil - schemaFrom) / 1000 };
  } finally {
    await target.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(targetSchema)} CASCADE`).catch((e: unknown) => console.error('drop schema:', e));
    await target.end().catch(() => undefined);
  }
}

/** `pg_restore -j <jobs>` into a new, empty database (it creates the dumped schema there), which is dropped afterwards. */
async function pgRestoreOnce(url: string, schema: string, dumpFile: string, database: string, jobs: number, r: number): Promise<number> {
  await admin(url, (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`));
  try {
    const pgrUrl = dbUrl(url, database);
    const { s } = await timed(`pg_restore -j ${jobs} (round ${r})`, () => run('pg_restore', ['-j', String(jobs), '-d', pgrUrl, dumpFile], { maxBuffer: 16 * MB }));
    const { rows } = await admin(pgrUrl, (c) => c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${pg.escapeIdentifier(schema)}.rollup_1m`));
    if (Number(rows[0]!.n) !== ROWS) throw new Error(`pg_restore gave ${rows[0]!.n} rollup rows, expected ${ROWS}`);
    return s;
  } finally {
    await admin(url, (c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`)).catch((e: unknown) => console.error('drop database:', e));
  }
}

async function main(): Promise<void> {
  let ns: TestNamespace | undefined;
  let live: pg.Pool | undefined;
  try {
    ns = await createTestNamespace();
    const config: Readonly<Config> = ns.config;
    const url = ns.env.DATABASE_URL!;
    const schema = config.database.schema;
    // The tables our restore loads at once with the shipped settings; pg_restore gets as many jobs.
    const workers = config.recovery.parallelRestore ? config.core.workers : 1;
    console.log(`backup bench: ${ROWS.toLocaleString('en')} rollup_1m rows over ${SERIES.toLocaleString('en')} series, schema ${schema}; restores with ${workers} workers`);

    live = createPool(config.database, 'backup-bench');
    await migrate(live, schema);

    // 1. Fill the live schema with SQL.
    const fill = await timed('fill', async () => {
      await live!.query(
        `INSERT INTO series (key, name, tags)
         SELECT 'bench_metric{shard="' || g || '"}', 'bench_metric', jsonb_build_object('shard', g::text)
           FROM generate_series(1, ${SERIES}) g`,
      );
      await live!.query(
        // One row per series and minute, as the rollup job writes them (six samples 10 s apart each).
        `INSERT INTO rollup_1m (series_id, bucket, count, sum, min, max, last, last_ts)
         SELECT s.id, b, 6, v * 6, v - 1, v + 1, v, b + interval '50 seconds'
           FROM series s CROSS JOIN generate_series(1, ${ROWS / SERIES}) t
           CROSS JOIN LATERAL to_timestamp(1764115200 + t * 60) b CROSS JOIN LATERAL (SELECT random() * 100 + 0 * t AS v) r`,
      );
    });
    const vacuum = await timed('vacuum analyze', async () => {
      await live!.query('VACUUM ANALYZE series');
      await live!.query('VACUUM ANALYZE rollup_1m');
    });
    const { rows: sizeRows } = await live.query<{ bytes: string }>(
      `SELECT (pg_total_relation_size('rollup_1m_default') + pg_total_relation_size('series'))::text AS bytes`,
    );
    const tableBytes = Number(sizeRows[0]!.bytes);

    const ops = new BackupOperations(config, live);

    // 2. Our full backup.
    const backup = await timed('our backup (full)', () => ops.run('full'));
    const manifest = backup.value.manifest;
    const chunks = [...manifest.tables.flatMap((t) => t.chunks), ...manifest.files.map((f) => f.chunk)];
    const backupBytes = chunks.reduce((n, c) => n + c.bytes, 0);
    const rawBytes = chunks.reduce((n, c) => n + c.rawBytes, 0);
    const backedUpRollups = manifest.tables.find((t) => t.table === 'rollup_1m')?.rows ?? 0;
    if (backedUpRollups !== ROWS) throw new Error(`backup holds ${backedUpRollups} rollup rows, expected ${ROWS}`);

    // 3. pg_dump of the same schema.
    const dumpFile = join(config.dataDir, 'bench.dump');
    const dump = await timed('pg_dump -Fc', () => run('pg_dump', ['-Fc', '-n', schema, '-f', dumpFile, '-d', url], { maxBuffer: 16 * MB }));
    const dumpBytes = (await stat(dumpFile)).size;

    // 4. Verification of the whole backup (no database).
    const verify = await timed('our verify', () => ops.verify(manifest.id));

    // 5. Restores, ours and pg_restore taking turns, ROUNDS times each: the machine's background load
    // varies over a run, and alternating spreads it over both sides; the best round of each is compared.
    const ourRounds: Awaited<ReturnType<typeof ourRestore>>[] = [];
    const pgRounds: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      ourRounds.push(await ourRestore(config, manifest.id, `${ns.id}_r${r}`, r));
      pgRounds.push(await pgRestoreOnce(url, schema, dumpFile, `${ns.id}_pgr${r}`, workers, r));
    }
    const restore = ourRounds.reduce((a, b) => (b.s < a.s ? b : a));
    const pgRestore = { s: Math.min(...pgRounds) };

    // 6. Report.
    const ratio = (a: number, b: number) => (b > 0 ? `${fmt(a / b)}x` : '-');
    const line = (cells: string[]) => console.log(`${cells[0]!.padEnd(22)}${cells.slice(1).map((c) => c.padStart(14)).join('')}`);
    console.log('');
    console.log(`rows ${ROWS.toLocaleString('en')}; table+index size ${fmt(tableBytes / MB, 1)} MB; raw COPY data (text and binary) ${fmt(rawBytes / MB, 1)} MB; fill ${fmt(fill.s)} s, vacuum ${fmt(vacuum.s)} s`);
    console.log(`restores: ours loads ${workers} tables at once and creates its schema first; pg_restore -j ${workers} into an empty database`);
    line(['', 'ours', 'pg', 'ours / pg']);
    line(['backup s', fmt(backup.s), fmt(dump.s), ratio(backup.s, dump.s)]);
    line(['backup MB on disk', fmt(backupBytes / MB), fmt(dumpBytes / MB), ratio(backupBytes, dumpBytes)]);
    line(['backup MB/s (raw)', fmt(rawBytes / MB / backup.s), fmt(rawBytes / MB / dump.s), ratio(dump.s, backup.s)]);
    line([`restore s (best of ${ROUNDS})`, fmt(restore.s), fmt(pgRestore.s), ratio(restore.s, pgRestore.s)]);
    line(['  of which verify s', fmt(restore.verifyS), '-', '-']);
    line(['  schema + load s', fmt(restore.s - restore.verifyS), fmt(pgRestore.s), ratio(restore.s - restore.verifyS, pgRestore.s)]);
    line(['    of which schema s', fmt(restore.schemaS), '-', '-']);
    line(['restore rows/s', fmt(ROWS / restore.s, 0), fmt(ROWS / pgRestore.s, 0), ratio(pgRestore.s, restore.s)]);
    line(['verify s', fmt(verify.s), '-', '-']);
    console.log(`(rows/s and MB/s ratios are speed ratios: below 1x means ours is slower)`);
    console.log(`restore result: ${restore.value.rows} rows, ${fmt(restore.value.bytes / MB)} MB; verify: ${verify.value.chunks} chunks, ${verify.value.rows} rows`);
    console.log(
      JSON.stringify({
        bench: 'backup',
        rows: ROWS,
        backup_s: round(backup.s),
        pg_dump_s: round(dump.s),
        restore_s: round(restore.s),
        restore_verify_s: round(restore.verifyS),
        restore_schema_s: round(restore.schemaS),
        pg_restore_s: round(pgRestore.s),
        restore_workers: workers,
        verify_s: round(verify.s),
        rounds: ROUNDS,
      }),
    );
  } finally {
    // 7. Clean up whatever was made, even after a failure.
    await live?.end().catch(() => undefined);
    await ns?.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
