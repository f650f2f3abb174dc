import { join } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfigOrExit } from '@terminusa/config';
import { createPool, ensureDatabase, prepareSchema } from '@terminusa/database';
import { computeRollups, PartitionManager, rollupSettings, SeriesIds, TIERS, type Tier, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { ArchiveIndex } from './archive/archive-index.ts';
import { loadArchive } from './archive/archive-partition.ts';
import { loadRawArchive } from './archive/archive-raw.ts';
import { moveKeepFrom, moveLegacyRaw } from './legacy/move-legacy-raw.ts';
import { applyRetention, retentionSettings } from './retention/apply-retention.ts';

const config = loadConfigOrExit({}, 'tmon-storage');
const archive = new ArchiveIndex(join(config.dataDir, 'archive'));
const engine = new VictoriaMetrics(config.storage.engine);
const time = (text: string) => {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new Error(`not a time: ${text} (epoch ms or ISO-8601)`);
  return ms;
};

/**
 * Runs one command against the configured database, prepared as the storage service prepares it (migrated as the
 * owner; as the storage's own role, waited for); errors become exit code 1 with the message on stderr.
 */
async function withPool(work: (pool: ReturnType<typeof createPool>) => Promise<void>): Promise<void> {
  if (config.database.migrate) await ensureDatabase(config.database.url);
  const pool = createPool(config.database, 'tmon-storage');
  try {
    await prepareSchema(pool, config.database, 'storage', { info: (message) => process.stderr.write(`${message}\n`) });
    await work(pool);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await pool.end();
  }
}

const program = new Command('tmon-storage').description('Archive, retention and rollups of the metric history (settings from the environment and CONFIG_FILE)').exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
const archiveCmd = program.command('archive').description('files of data moved out by retention');

archiveCmd
  .command('list')
  .description('list archived ranges per tier')
  .option('--json', 'machine-readable output')
  .action(async (opts: { json?: boolean }) => {
    const entries = await archive.entries();
    if (opts.json) process.stdout.write(`${JSON.stringify(entries)}\n`);
    else for (const e of entries) process.stdout.write(`${e.tier.padEnd(4)} ${new Date(e.from).toISOString()} → ${new Date(e.to).toISOString()}  ${String(e.rows).padStart(9)} rows  ${e.file}\n`);
  });

archiveCmd
  .command('load')
  .description('load an archived range back: rollups into their table (rows already present are skipped), raw into the engine of VM_URL (samples already there are kept once)')
  .addOption(new Option('--tier <tier>').choices([...TIERS]).makeOptionMandatory())
  .requiredOption('--from <time>', 'start, epoch ms or ISO-8601')
  .requiredOption('--to <time>', 'end, epoch ms or ISO-8601')
  .action((opts: { tier: Tier; from: string; to: string }) =>
    withPool(async (pool) => {
      if (opts.tier === 'raw') {
        process.stdout.write(`loaded ${await loadRawArchive(engine, archive, time(opts.from), time(opts.to))} samples into the engine\n`);
        return;
      }
      const rows = await loadArchive(pool, archive, opts.tier, time(opts.from), time(opts.to));
      process.stdout.write(`loaded ${rows} rows into ${opts.tier}\n`);
    }),
  );

program
  .command('retention')
  .description('archive and drop data past retention now')
  .action(() =>
    withPool(async (pool) => {
      const report = await applyRetention(pool, engine, new PartitionManager(pool), archive, tierRetentionMs(config), retentionSettings(config));
      process.stdout.write(`${JSON.stringify(report)}\n`);
    }),
  );

program
  .command('fold')
  .description('compute the rollup tiers from the engine now, up to the last settled minute')
  .action(() =>
    withPool(async (pool) => {
      const ctx = { pool, engine, partitions: new PartitionManager(pool), series: new SeriesIds(pool), ...rollupSettings(config) };
      process.stdout.write(`${JSON.stringify(await computeRollups(ctx))}\n`);
    }),
  );

program
  .command('move-raw')
  .description('move raw samples an older version kept in PostgreSQL (legacy_sample_blocks) into the engine (older than it keeps: into the archive), then drop them')
  .action(() =>
    withPool(async (pool) => {
      const keepFrom = moveKeepFrom(retentionSettings(config).engineRetentionMs!);
      process.stdout.write(`${JSON.stringify(await moveLegacyRaw(pool, { engine, archive, keepFrom }))}\n`);
    }),
  );

await program.parseAsync(process.argv);
