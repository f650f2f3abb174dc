import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Counter } from 'prom-client';
import { consumeBatches } from '@terminusa/bus';
import { openDatabase } from '@terminusa/database';
import { computeRollups, PartitionManager, RedisCurrentStore, rollupSettings, SampleStore, SeriesIds, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { prepareConsumer, runService } from '@terminusa/runtime';
import { serveArchiveCalls } from './archive/archive-calls.ts';
import { ArchiveIndex } from './archive/archive-index.ts';
import { applyRetention } from './retention/apply-retention.ts';
import { startStorageJobs } from './schedule/storage-jobs.ts';
import { storeSampleBatches } from './store-sample-batches.ts';

await runService({
  name: 'storage',
  description: 'stores raw samples in the time-series engine and current values in Redis, exactly once; computes the rollups, retains and archives them',
  async start({ config, bus, logger, registry, health, onStop }) {
    const pool = await openDatabase(config, 'storage', { health, onStop });
    const engine = new VictoriaMetrics(config.storage.engine);
    await engine.checkDeduplication();
    health.add('engine', () => engine.health());

    const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    onStop('redis', () => void redis.disconnect());
    health.add('redis', async () => void (await redis.ping()));

    const stored = new Counter({ name: 'tmon_storage_samples_stored_total', help: 'Samples written to the engine (a redelivered one again: the engine keeps it once)', registers: [registry] });
    const late = new Counter({ name: 'tmon_storage_late_minutes_total', help: 'Minutes marked to have their rollups computed again because samples came after them', registers: [registry] });
    const invalid = new Counter({ name: 'tmon_storage_invalid_batches_total', help: 'Sample batches that failed validation', registers: [registry] });
    const rolledUp = new Counter({ name: 'tmon_storage_rollup_minutes_total', help: '(metric, minute) pairs whose rollups were computed from the engine', registers: [registry] });
    const archived = new Counter({ name: 'tmon_storage_archived_rows_total', help: 'Rollup rows and raw samples written to the archive by retention', registers: [registry] });

    const partitions = new PartitionManager(pool);
    const archive = new ArchiveIndex(join(config.dataDir, 'archive'));
    const retention = tierRetentionMs(config);
    const series = new SeriesIds(pool);
    const jobs = await startStorageJobs(
      config,
      {
        fold: async () => {
          const report = await computeRollups({ pool, engine, partitions, series, ...rollupSettings(config) });
          rolledUp.inc(report.minutes);
        },
        retention: async () => {
          const report = await applyRetention(pool, engine, partitions, archive, retention);
          archived.inc(report.archived);
          if (report.dropped.length || report.deletedFromDefault) logger.info('retention applied', { ...report });
        },
      },
      logger,
    );
    onStop('storage jobs', () => jobs.stop());

    // The gateway's archive calls; registered after the stores, so they stop before the pool closes.
    const calls = serveArchiveCalls(bus, pool, engine, archive, logger);
    onStop('archive calls', () => calls.forEach((s) => s.unsubscribe()));

    // Created or updated here in development; made by the NATS bootstrap where users have least privilege.
    await prepareConsumer({ config, bus, logger }, 'storage');
    const handler = storeSampleBatches(
      bus,
      new SampleStore(pool, engine),
      new RedisCurrentStore(redis, config.redis.prefix, config.cache.metrics.ttl),
      { stored: (n) => stored.inc(n), lateMinutes: (n) => late.inc(n), invalid: (n) => invalid.inc(n) },
      logger,
    );
    const consumer = await consumeBatches(bus, 'storage', handler, {
      maxBatch: config.core.batchSize,
      concurrency: config.storage.writers,
      lingerMs: 10,
      retryDelayMs: 1000,
      progressEveryMs: (config.core.timeout * 1000) / 3,
      onError: (err, batch) => logger.error('storing failed; batch will be redelivered', { err, messages: batch.length }),
    });
    onStop('samples consumer', () => consumer.stop());
  },
});
