import { Redis } from 'ioredis';
import { Counter } from 'prom-client';
import { consumeBatches } from '@terminusa/bus';
import { prepareConsumer, runService } from '@terminusa/runtime';
import { ingestLimits, ingestPipeline } from './pipeline/index.ts';
import { RedisSeriesIndex } from './cardinality/redis-series-index.ts';
import { RedisEventCounters } from './events/redis-event-counters.ts';
import { handleIngestBatch } from './handle-ingest-batch.ts';

await runService({
  name: 'processor',
  description: 'validates and normalizes raw metric messages, counts game events, and forwards them for storage and alerting',
  async start({ config, bus, logger, registry, health, onStop }) {
    // Registered before the consumer, so it is closed after the consumer finished its last batch.
    const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    onStop('redis', () => void redis.disconnect());
    health.add('redis', async () => void (await redis.ping()));

    const accepted = new Counter({ name: 'tmon_processor_samples_accepted_total', help: 'Samples accepted and forwarded', registers: [registry] });
    const rejected = new Counter({ name: 'tmon_processor_rejections_total', help: 'Rejected samples or messages, by the field that was wrong', labelNames: ['field'], registers: [registry] });
    const cardinality = new Counter({
      name: 'tmon_processor_cardinality_rejections_total',
      help: 'Samples refused because they would start a series past a cardinality limit, by metric name',
      labelNames: ['metric'],
      registers: [registry],
    });

    const processMessage = ingestPipeline(ingestLimits(config), {
      series: new RedisSeriesIndex(redis, config.redis.prefix, config.ingest),
      counters: new RedisEventCounters(redis, config.redis.prefix),
      onCardinalityRefused: (metric) => cardinality.inc({ metric }),
    });

    // Created or updated here in development; made by the NATS bootstrap where users have least privilege.
    await prepareConsumer({ config, bus, logger }, 'processor');
    const consumer = await consumeBatches(
      bus,
      'processor',
      handleIngestBatch({
        bus,
        logger,
        processMessage,
        workers: config.core.workers,
        counters: { accepted: (n) => accepted.inc(n), rejected: (field) => rejected.inc({ field }) },
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
    onStop('ingest consumer', () => consumer.stop());
  },
});
