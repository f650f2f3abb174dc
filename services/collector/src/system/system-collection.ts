import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { IngestSample } from '@terminusa/bus';
import { WrittenSeries } from '@terminusa/metric-store';
import type { Logger } from '@terminusa/runtime';
import { collectSystemMetrics } from './collect-system-metrics.ts';
import { readHostCounters, type HostCounters } from './host-counters.ts';

/** Time between two counter readings when no recent baseline exists, so even the first collection has CPU percentages and rates. */
const PRIME_MS = 1000;

/** What the system collection needs. */
export interface SystemCollectionOptions {
  redis: Redis;
  /** `redis.prefix` of the configuration. */
  keyPrefix: string;
  /** This replica, written as the lock's value so a stuck lock names its holder. */
  instance: string;
  intervalSeconds: number;
  /** Tags of every sample; `host` names the host the lock is per. */
  tags: Readonly<Record<string, string>> & { host: string };
  publish(samples: IngestSample[]): Promise<number>;
  logger: Logger;
  onCollected(): void;
}

/**
 * Collects this host's system metrics at the start of every interval, once per host however many collectors run on
 * it: each replica tries `SET <prefix>collector:system:<host>:<intervalStart> <instance> NX PX <interval>` and only
 * the winner collects. The winner keeps the counters it read in Redis, so the next winner, whichever replica that
 * is, computes rates over exactly the time since the last collection. A series gone since the last collection (a
 * disk unmounted, a container's network interface removed) gets a staleness marker, as a scrape's would.
 */
export function startSystemCollection(options: SystemCollectionOptions): { stop(): Promise<void> } {
  const intervalMs = options.intervalSeconds * 1000;
  const hostKey = `${options.keyPrefix}collector:system:${options.tags.host}`;
  const countersKey = `${hostKey}:counters`;
  const written = new WrittenSeries(options.redis, `${hostKey}:written`, intervalMs);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const round = async (intervalStart: number) => {
    const won = await options.redis.set(`${hostKey}:${intervalStart}`, options.instance, 'PX', intervalMs, 'NX');
    if (won !== 'OK') return;
    const stored = await options.redis.get(countersKey);
    let baseline = stored ? (JSON.parse(stored) as HostCounters) : undefined;
    if (!baseline) {
      baseline = await readHostCounters();
      await sleep(PRIME_MS);
    }
    const { samples, counters } = await collectSystemMetrics(options.tags, baseline);
    // Kept three intervals: a baseline older than that (every collector was down) would average over the outage.
    await options.redis.set(countersKey, JSON.stringify(counters), 'PX', 3 * intervalMs);
    await options.publish([...samples, ...(await written.markersFor(samples, counters.at))]);
    await written.remember(samples);
    options.onCollected();
  };

  const fire = (intervalStart: number) => {
    if (stopped) return;
    // Timers may fire a millisecond early; the lock key must name the interval we are really in.
    if (Date.now() < intervalStart) {
      timer = setTimeout(() => fire(intervalStart), intervalStart - Date.now());
      return;
    }
    running ??= round(intervalStart)
      .catch((err: unknown) => void options.logger.error('system metrics round failed', { err }))
      .finally(() => {
        running = undefined;
      });
    const next = (Math.floor(Date.now() / intervalMs) + 1) * intervalMs;
    timer = setTimeout(() => fire(next), next - Date.now());
  };
  fire(Math.floor(Date.now() / intervalMs) * intervalMs);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
