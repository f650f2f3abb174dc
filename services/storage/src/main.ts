import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Counter } from 'prom-client';
import { consumeBatches, ensureConsumer } from '@terminusa/bus';
import { openDatabase } from '@terminusa/database';
import { foldRollups, PartitionManager, PgSampleStore, RedisCurrentStore, tierRetentionMs } from '@terminusa/metric-store';
import { runService } from '@terminusa/runtime';
import { serveArchiveCalls } from './archive/archive-calls.ts';
import { ArchiveIndex } from './archive/archive-index.ts';
import { applyRetention } from './retention/apply-retention.ts';
import { startStorageJobs } from './schedule/storage-jobs.ts';
import { storeSampleBatches } from './store-sample-batches.ts';

await runService({
  name: 'storage',
  description: 'stores metric history in PostgreSQL and current values in Redis, exactly once; rolls up, retains and archives it',
  async start({ config, bus, logger, registry, health, onStop }) {
    const pool = await openDatabase(config, 'storage', { health, onStop });

    const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    onStop('redis', () => void redis.disconnect());
    health.add('redis', async () => void (await redis.ping()));

    const stored = new Counter({ name: 'tmon_storage_samples_stored_total', help: 'Samples written to history', registers: [registry] });
    const duplicates = new Counter({ name: 'tmon_storage_duplicate_messages_total', help: 'Redelivered messages whose samples were already stored', registers: [registry] });
    const invalid = new Counter({ name: 'tmon_storage_invalid_batches_total', help: 'Sample batches that failed validation', registers: [registry] });
    const pending = new Counter({
      name: 'tmon_storage_rollup_pending_rows_total',
      help: 'Rows written for the fold, one per series and minute of a batch (samples stored / this = how much batches reduce)',
      registers: [registry],
    });
    const folded = new Counter({ name: 'tmon_storage_rollup_folded_total', help: 'Samples folded into the rollup tiers', registers: [registry] });
    const archived = new Counter({ name: 'tmon_storage_archived_rows_total', help: 'Rows written to the archive by retention', registers: [registry] });

    const partitions = new PartitionManager(pool);
    const archive = new ArchiveIndex(join(config.dataDir, 'archive'));
    const jobs = await startStorageJobs(
      config,
      {
        fold: async () => folded.inc(await foldRollups(pool, partitions)),
        retention: async () => {
          const report = await applyRetention(pool, partitions, archive, tierRetentionMs(config));
          archived.inc(report.archived);
          if (report.dropped.length || report.deletedFromDefault) logger.info('retention applied', { ...report });
        },
      },
      logger,
    );
    onStop('storage jobs', () => jobs.stop());

    // The gateway's archive calls; registered after the stores, so they stop before the pool closes.
    const calls = serveArchiveCalls(bus, pool, archive, logger);
    onStop('archive calls', () => calls.forEach((s) => s.unsubscribe()));

    await ensureConsumer(await bus.nc.jetstreamManager(), bus.ns, 'storage', {
      ackWaitSeconds: config.core.timeout,
      core: config.core,
      replicas: config.nats.replicas,
    });
    const handler = storeSampleBatches(
      bus,
      new PgSampleStore(pool),
      new RedisCurrentStore(redis, config.redis.prefix, config.cache.metrics.ttl),
      { stored: (n) => stored.inc(n), duplicates: (n) => duplicates.inc(n), pendingRows: (n) => pending.inc(n), invalid: (n) => invalid.inc(n) },
      logger,
    );
    const consumer = await consumeBatches(bus, 'storage', handler, {
      maxBatch: config.core.batchSize,
      concurrency: config.storage.writers,
      lingerMs: 10,
      retryDelayMs: 1000,
      onError: (err, batch) => logger.error('storing failed; batch will be redelivered', { err, messages: batch.length }),
    });
    onStop('samples consumer', () => consumer.stop());
  },
});
