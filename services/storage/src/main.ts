import { Redis } from 'ioredis';
import { Counter } from 'prom-client';
import { consumeBatches, ensureConsumer } from '@terminusa/bus';
import { PgSampleStore, RedisCurrentStore } from '@terminusa/metric-store';
import { openDatabase } from '@terminusa/database';
import { runService } from '@terminusa/runtime';
import { storeSampleBatches } from './store-sample-batches.ts';

await runService({
  name: 'storage',
  description: 'stores metric history in PostgreSQL and current values in Redis, exactly once',
  async start({ config, bus, logger, registry, health, onStop }) {
    const pool = await openDatabase(config, 'storage', { health, onStop });

    const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    onStop('redis', () => void redis.disconnect());
    health.add('redis', async () => void (await redis.ping()));

    const stored = new Counter({ name: 'tmon_storage_samples_stored_total', help: 'Samples written to history', registers: [registry] });
    const duplicates = new Counter({ name: 'tmon_storage_samples_duplicate_total', help: 'Redelivered samples that were already stored', registers: [registry] });
    const invalid = new Counter({ name: 'tmon_storage_invalid_batches_total', help: 'Sample batches that failed validation', registers: [registry] });

    await ensureConsumer(await bus.nc.jetstreamManager(), bus.ns, 'storage', {
      ackWaitSeconds: config.core.timeout,
      maxAckPending: config.core.queueSize,
    });
    const handler = storeSampleBatches(
      bus,
      new PgSampleStore(pool),
      new RedisCurrentStore(redis, config.redis.prefix, config.cache.metrics.ttl),
      { stored: (n) => stored.inc(n), duplicates: (n) => duplicates.inc(n), invalid: (n) => invalid.inc(n) },
      logger,
    );
    const consumer = await consumeBatches(bus, 'storage', handler, {
      maxBatch: config.core.batchSize,
      lingerMs: 10,
      retryDelayMs: 1000,
      onError: (err, batch) => logger.error('storing failed; batch will be redelivered', { err, messages: batch.length }),
    });
    onStop('samples consumer', () => consumer.stop());
  },
});
