import { openRedis, runService, startConsumer } from '@terminusa/runtime';
import { ingestLimits, ingestPipeline } from './pipeline/index.ts';
import { RedisSeriesIndex } from './cardinality/redis-series-index.ts';
import { RedisEventCounters } from './events/redis-event-counters.ts';
import { handleIngestBatch } from './handle-ingest-batch.ts';
import { createProcessorMetrics } from './processor-metrics.ts';

await runService({
  name: 'processor',
  description: 'validates and normalizes raw metric messages, counts game events, and forwards them for storage and alerting',
  async start(ctx) {
    const { config, bus, logger, registry } = ctx;
    const redis = await openRedis(ctx, 'processor');
    const metrics = createProcessorMetrics(registry);

    const processMessage = ingestPipeline(ingestLimits(config), {
      series: new RedisSeriesIndex(redis, config.redis.prefix, config.ingest),
      counters: new RedisEventCounters(redis, config.redis.prefix),
      onCardinalityRefused: (metric) => metrics.cardinalityRefused(metric),
    });

    await startConsumer(
      ctx,
      'processor',
      handleIngestBatch({
        bus,
        logger,
        processMessage,
        workers: config.core.workers,
        counters: { accepted: (n) => metrics.accepted.inc(n), rejected: (field) => metrics.rejected.inc({ field }) },
      }),
      {
        maxBatch: config.core.batchSize,
        // Batches overlap, so one is validated while another waits for its JetStream acks.
        concurrency: config.core.workers,
        lingerMs: 5,
        retryDelayMs: 1000,
        onError: (err, batch) => logger.error('processing failed; batch will be redelivered', { err, messages: batch.length }),
      },
    );
  },
});
