import { SAMPLES_DEAD_LETTER_SOURCE, SUBJECTS, deadLetterOf, type Bus, type JsMsg } from '@terminusa/bus';
import type { PgSampleStore, RedisCurrentStore, SampleMessage } from '@terminusa/metric-store';
import type { Logger } from '@terminusa/runtime';

/** Counts the storage step reports. */
export interface StoreCounters {
  stored(n: number): void;
  duplicates(n: number): void;
  pendingRows(n: number): void;
  invalid(n: number): void;
}

/**
 * Writes a batch of sample messages: history to PostgreSQL in one transaction, then current values to Redis.
 * Resolving means both are durable, so the caller may ack; a redelivered message stores nothing new. A body that
 * does not decode is kept whole on the dead-letter subject (it cannot be stored, and retrying would not change
 * that), counted and logged; the good bodies beside it are stored.
 */
export function storeSampleBatches(bus: Bus, history: PgSampleStore, current: RedisCurrentStore, counters: StoreCounters, logger: Logger) {
  return async (messages: JsMsg[]): Promise<void> => {
    // Each part is one ingest message under its idempotency id, so one the processor published twice, even
    // outside JetStream's duplicate window or grouped differently, is stored once.
    const batches: SampleMessage[] = [];
    const deadLetters: Promise<void>[] = [];
    for (const msg of messages) {
      const decoded = bus.decode(SUBJECTS.samples, msg.subject, msg.data);
      if (decoded.ok) {
        batches.push(...decoded.value.parts);
        continue;
      }
      // Only the processor publishes here, so this is a bug upstream: keep the body for whoever fixes it.
      logger.error('invalid sample batch dead-lettered', { err: decoded.error.message, seq: msg.seq });
      const refusal = { subject: bus.ns.relative(msg.subject) ?? msg.subject, receivedAt: Date.now(), rejections: decoded.error.issues, accepted: 0 };
      deadLetters.push(bus.persist(SUBJECTS.deadLetter, [SAMPLES_DEAD_LETTER_SOURCE], deadLetterOf(refusal, msg.data, bus.maxBodyBytes), `deadletter:${bus.ns.stream('SAMPLES')}:${msg.seq}`));
    }
    await Promise.all(deadLetters);
    counters.invalid(deadLetters.length);
    const { stored, duplicates, pendingRows } = await history.write(batches);
    await current.update(batches.flatMap((b) => b.samples));
    counters.stored(stored);
    counters.duplicates(duplicates);
    counters.pendingRows(pendingRows);
  };
}
