import { hostname } from 'node:os';
import { loadConfig } from '@terminusa/config';
import { openRedis, runService } from '@terminusa/runtime';
import { createCollectorMetrics } from './collector-metrics.ts';
import { samplePublisher, SAMPLE_SOURCES } from './publish-samples.ts';
import { watchConfigFile } from './reload/watch-config-file.ts';
import { startCollectorJobs } from './schedule/collector-jobs.ts';
import { startSystemCollection } from './system/system-collection.ts';

await runService({
  name: 'collector',
  description: "collects this host's system metrics, scrapes Prometheus targets and runs probes, and publishes them on NATS",
  async start(ctx) {
    const { config, bus, logger, registry, health, instance, onStop } = ctx;
    const metrics = createCollectorMetrics(registry);
    // Never more samples a message than the processor takes in one (ingest.maxSamplesPerMessage): it refused each whole.
    const publish = samplePublisher(bus, () => ({ samples: Math.min(config.core.batchSize, config.ingest.maxSamplesPerMessage), bytes: config.ingest.maxMessageBytes }), (source, n) => metrics.samplesPublished.inc({ source }, n));
    const { mode } = config.collection;
    const redis = await openRedis(ctx, 'collector');

    if (mode !== 'jobs') {
      const system = startSystemCollection({
        redis,
        keyPrefix: config.redis.prefix,
        instance,
        intervalSeconds: config.collection.intervals.system,
        tags: { ...config.collection.tags, host: config.collection.tags.host ?? hostname() },
        publish: (samples) => publish(SAMPLE_SOURCES.system, samples),
        logger,
        onCollected: () => metrics.jobsRun.inc({ kind: 'system' }),
      });
      onStop('system collection', () => system.stop());
    }

    if (mode !== 'system') {
      const jobs = await startCollectorJobs({ config, bus, redis, logger, metrics, publish });
      health.add('queue', async () => void (await jobs.queue.count()));
      onStop('collector jobs', () => jobs.stop());
      if (config.configFile) {
        const file = config.configFile;
        const watcher = watchConfigFile(file, () => loadConfig({ file }), (next) => jobs.applyConfig(next), logger);
        onStop('config file watch', () => watcher.stop());
      }
    }
  },
});
