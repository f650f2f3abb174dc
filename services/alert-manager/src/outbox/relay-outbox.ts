import type { Redis } from 'ioredis';
import type { Logger } from '@terminusa/runtime';
import { decodeOutboxEvent, type OutboxEvent } from './outbox-event.ts';

const GROUP = 'relay';

/** What the relay does with the entries it reads. */
export interface OutboxHandler {
  /** Work done once for a whole batch read, before its entries are handled (one transaction for all); throwing leaves them all pending. */
  batch?(events: readonly OutboxEvent[]): Promise<void>;
  handle(event: OutboxEvent): Promise<void>;
}

/**
 * Moves outbox entries to their consumers (history, bus, notifications) through a Redis consumer group: each
 * entry goes to one replica and is acknowledged only after `handle` resolved; entries of a replica that died
 * are claimed by another. `batch` and `handle` must be idempotent, since a crash before the ack replays an entry.
 */
export async function relayOutbox(
  redis: Redis,
  stream: string,
  consumer: string,
  handler: OutboxHandler,
  logger: Logger,
  /** An entry a dead replica took but never acknowledged is taken over after this long. */
  claimIdleMs: number,
): Promise<{ stop(): Promise<void> }> {
  try {
    await redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
  }
  const reader = redis.duplicate();
  let stopped = false;

  const failed = (err: unknown, entry: string) => {
    // Left pending: it is claimed again after claimIdleMs.
    if ((err as { retryLater?: boolean }).retryLater) logger.info('outbox entry deferred; it will be retried', { reason: (err as Error).message, entry });
    else logger.error('outbox entry failed; it will be retried', { err, entry });
  };
  const processOne = async (event: OutboxEvent) => {
    try {
      await handler.handle(event);
      // Together: a crash or a failed call between the two left an acknowledged entry in the stream for good.
      const results = (await redis.multi().xack(stream, GROUP, event.streamId).xdel(stream, event.streamId).exec()) ?? [];
      for (const [err] of results) if (err) throw err;
      return true;
    } catch (err) {
      failed(err, event.streamId);
      return false;
    }
  };
  // Entries of one alert are handled in order; different alerts side by side, so a storm of hundreds of
  // alerts reaches its notification group together.
  const process = async (entries: [string, string[]][]) => {
    const events = entries.map(([id, fields]) => decodeOutboxEvent(id, fields));
    if (events.length === 0) return;
    try {
      await handler.batch?.(events);
    } catch (err) {
      failed(err, `${events[0]!.streamId}…${events.at(-1)!.streamId}`);
      return;
    }
    const perAlert = new Map<string, OutboxEvent[]>();
    for (const event of events) {
      const list = perAlert.get(event.stateKey) ?? [];
      list.push(event);
      perAlert.set(event.stateKey, list);
    }
    await Promise.all(
      [...perAlert.values()].map(async (events) => {
        for (const event of events) if (!(await processOne(event))) return;
      }),
    );
  };

  const loop = (async () => {
    let lastClaim = 0;
    while (!stopped) {
      try {
        if (Date.now() - lastClaim > claimIdleMs / 3) {
          lastClaim = Date.now();
          // Every claimable entry, a hundred at a time from where the last call stopped: after an outage of the
          // history database a replica's whole backlog is claimable, and a hundred per look took minutes.
          let cursor = '0';
          do {
            const [next, entries] = (await reader.xautoclaim(stream, GROUP, consumer, claimIdleMs, cursor, 'COUNT', 100)) as [string, [string, string[]][]];
            await process(entries.filter(([, f]) => f !== null));
            cursor = next;
          } while (cursor !== '0-0' && !stopped);
        }
        const res = (await reader.xreadgroup('GROUP', GROUP, consumer, 'COUNT', 200, 'BLOCK', 500, 'STREAMS', stream, '>')) as [string, [string, string[]][]][] | null;
        if (res) await process(res[0]![1]);
      } catch (err) {
        if (!stopped) {
          logger.error('outbox relay error', { err });
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      await loop;
      reader.disconnect();
    },
  };
}
