import { SUBJECTS, type Bus, type JsMsg, type Sample } from '@terminusa/bus';
import type { PgSampleStore, RedisCurrentStore } from '@terminusa/metric-store';
import type { Logger } from '@terminusa/runtime';

/** Counts the storage step reports. */
export interface StoreCounters {
  stored(n: number): void;
  duplicates(n: number): void;
  invalid(n: number): void;
}

/**
 * Writes a batch of sample messages: history to PostgreSQL in one transaction, then current values to Redis.
 * Resolving means both are durable, so the caller may ack; a redelivered batch inserts nothing new.
 */
export function storeSampleBatches(bus: Bus, history: PgSampleStore, current: RedisCurrentStore, counters: StoreCounters, logger: Logger) {
  return async (messages: JsMsg[]): Promise<void> => {
    const samples: Sample[] = [];
    for (const msg of messages) {
      const decoded = bus.decode(SUBJECTS.samples, msg.subject, msg.data);
      if (decoded.ok) {
        for (const s of decoded.value.samples) samples.push(s);
      } else {
        // Only the processor publishes here, so this is a bug upstream; retrying would not fix it.
        counters.invalid(1);
        logger.error('invalid sample batch dropped', { err: decoded.error.message, seq: msg.seq });
      }
    }
    const inserted = await history.insert(samples);
    await current.update(samples);
    counters.stored(inserted);
    counters.duplicates(samples.length - inserted);
  };
}
