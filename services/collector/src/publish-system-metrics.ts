import { SUBJECTS, type Bus } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import { collectSystemMetrics } from './system-metrics.ts';

/** Source token under which the collector publishes. */
export const COLLECTOR_SOURCE = 'collector';

/** Collects this host's metrics and publishes them durably, in messages of at most `batchSize` samples. */
export async function publishSystemMetrics(bus: Bus, tags: Readonly<Record<string, string>>, batchSize: number): Promise<number> {
  const samples = await collectSystemMetrics(tags);
  const sends: Promise<void>[] = [];
  for (let i = 0; i < samples.length; i += batchSize) {
    sends.push(bus.persist(SUBJECTS.ingest, [COLLECTOR_SOURCE], { samples: samples.slice(i, i + batchSize) }));
  }
  await Promise.all(sends);
  return samples.length;
}

/** Runs `publishSystemMetrics` now and every `intervalSeconds`; a failed round is logged and the next one tries again. */
export function scheduleSystemMetrics(
  bus: Bus,
  logger: Logger,
  options: { intervalSeconds: number; tags: Readonly<Record<string, string>>; batchSize: number; onPublished: (n: number) => void },
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const round = () => {
    if (running) return;
    running = publishSystemMetrics(bus, options.tags, options.batchSize)
      .then(options.onPublished)
      .catch((err: unknown) => void logger.error('system metrics round failed', { err }))
      .finally(() => {
        running = undefined;
      });
  };
  round();
  const timer = setInterval(round, options.intervalSeconds * 1000);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
