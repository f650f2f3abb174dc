import { Counter } from 'prom-client';
import { runService } from '@terminusa/runtime';
import { scheduleSystemMetrics } from './publish-system-metrics.ts';

await runService({
  name: 'collector',
  description: "collects this host's system metrics and publishes them on NATS",
  async start({ config, bus, logger, registry, onStop }) {
    const published = new Counter({ name: 'tmon_collector_samples_published_total', help: 'Samples published', registers: [registry] });
    const schedule = scheduleSystemMetrics(bus, logger, {
      intervalSeconds: config.collection.intervals.system,
      tags: config.collection.tags,
      batchSize: config.core.batchSize,
      onPublished: (n) => published.inc(n),
    });
    onStop('system metrics schedule', () => schedule.stop());
  },
});
