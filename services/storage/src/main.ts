import { join } from 'node:path';
import { engineMaxLabels } from '@terminusa/config';
import { openDatabase } from '@terminusa/database';
import { computeRollups, PartitionManager, RedisCurrentStore, rollupSettings, SampleStore, SeriesIds, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { openRedis, runService, startConsumer } from '@terminusa/runtime';
import { serveArchiveCalls } from './archive/archive-calls.ts';
import { ArchiveIndex } from './archive/archive-index.ts';
import { applyRetention, retentionSettings } from './retention/apply-retention.ts';
import { startStorageJobs } from './schedule/storage-jobs.ts';
import { createStorageMetrics } from './storage-metrics.ts';
import { storeSampleBatches } from './store-sample-batches.ts';

await runService({
  name: 'storage',
  description: 'stores raw samples in the time-series engine and current values in Redis, exactly once; computes the rollups, retains and archives them',
  async start(ctx) {
    const { config, bus, logger, registry, health, onStop } = ctx;
    const pool = await openDatabase(config, 'storage', ctx);
    const engine = new VictoriaMetrics(config.storage.engine);
    await engine.checkFlags(engineMaxLabels(config));
    health.add('engine', () => engine.health());
    const redis = await openRedis(ctx, 'storage');
    const metrics = createStorageMetrics(registry);

    const partitions = new PartitionManager(pool);
    const archive = new ArchiveIndex(join(config.dataDir, 'archive'));
    const retention = tierRetentionMs(config);
    const series = new SeriesIds(pool);
    const jobs = await startStorageJobs(
      config,
      {
        fold: async (signal) => {
          const report = await computeRollups({ pool, engine, partitions, series, signal, ...rollupSettings(config) });
          metrics.rolledUpMinutes.inc(report.minutes);
        },
        retention: async (signal) => {
          const report = await applyRetention(pool, engine, partitions, archive, retention, { signal, ...retentionSettings(config) });
          metrics.archivedRows.inc(report.archived);
          if (report.dropped.length || report.deletedFromDefault || report.snapshotsDeleted.length) logger.info('retention applied', { ...report });
        },
      },
      logger,
    );
    onStop('storage jobs', () => jobs.stop());

    // The gateway's archive calls; registered after the stores, so they stop before the pool closes.
    const calls = serveArchiveCalls(bus, pool, engine, archive, logger);
    onStop('archive calls', () => calls.forEach((s) => s.unsubscribe()));

    const handler = storeSampleBatches(
      bus,
      new SampleStore(pool, engine),
      // Current values are those younger than the cache keeps them: older samples go to history only.
      new RedisCurrentStore(redis, config.redis.prefix, config.cache.metrics.ttl, config.cache.metrics.ttl * 1000),
      { stored: (n) => metrics.stored.inc(n), staleMarkers: (n) => metrics.staleMarkers.inc(n), redelivered: (n) => metrics.redelivered.inc(n), lateMinutes: (n) => metrics.lateMinutes.inc(n), invalid: (n) => metrics.invalidBatches.inc(n) },
      logger,
    );
    await startConsumer(ctx, 'storage', handler, {
      maxBatch: config.core.batchSize,
      concurrency: config.storage.writers,
      lingerMs: 10,
      retryDelayMs: 1000,
      onError: (err, batch) => logger.error('storing failed; batch will be redelivered', { err, messages: batch.length }),
    });
  },
});
