import { Counter } from 'prom-client';
import { consumeBatches, ensureConsumer } from '@terminusa/bus';
import { runService } from '@terminusa/runtime';
import { ingestPipeline, type IngestWork } from './pipeline/index.ts';
import { routeResults } from './route-results.ts';

await runService({
  name: 'processor',
  description: 'validates and normalizes raw metric messages and forwards them for storage and alerting',
  async start({ config, bus, logger, registry, onStop }) {
    const samplesIn = new Counter({ name: 'tmon_processor_samples_accepted_total', help: 'Samples accepted and forwarded', registers: [registry] });
    const rejected = new Counter({ name: 'tmon_processor_rejections_total', help: 'Rejected samples or messages, by the field that was wrong', labelNames: ['field'], registers: [registry] });
    const processMessage = ingestPipeline(config.ingest);

    await ensureConsumer(await bus.nc.jetstreamManager(), bus.ns, 'processor', {
      ackWaitSeconds: config.core.timeout,
      maxAckPending: config.core.queueSize,
    });
    const consumer = await consumeBatches(
      bus,
      'processor',
      async (messages) => {
        await Promise.all(
          messages.map((msg) => {
            const work: IngestWork = {
              subject: bus.ns.relative(msg.subject) ?? msg.subject,
              raw: msg.data,
              receivedAt: Math.floor(msg.info.timestampNanos / 1e6),
              rejections: [],
            };
            processMessage(work);
            samplesIn.inc(work.samples?.length ?? 0);
            for (const r of work.rejections) rejected.inc({ field: r.field.replace(/\[\d+\]/, '[]') });
            return routeResults(bus, logger, msg, work);
          }),
        );
      },
      {
        maxBatch: config.core.batchSize,
        lingerMs: 5,
        retryDelayMs: 1000,
        onError: (err, batch) => logger.error('forwarding failed; batch will be redelivered', { err, messages: batch.length }),
      },
    );
    onStop('ingest consumer', () => consumer.stop());
  },
});
