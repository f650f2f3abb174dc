import { SAMPLES_DEAD_LETTER_SOURCE, SUBJECTS, deadLetterOf, isStaleMarker, type Bus, type JsMsg } from '@terminusa/bus';
import type { RedisCurrentStore, SampleMessage, SampleStore } from '@terminusa/metric-store';
import type { Logger } from '@terminusa/runtime';

/** Counts the storage step reports. */
export interface StoreCounters {
  stored(n: number): void;
  staleMarkers(n: number): void;
  /** Samples of messages JetStream delivered again (an ack wait ran out, a replica died): written again, kept once. */
  redelivered(n: number): void;
  lateMinutes(n: number): void;
  invalid(n: number): void;
}

/**
 * Writes a batch of sample messages: raw samples to the engine (resolving once they are on its disk), then
 * current values to Redis. Resolving means both are durable, so the caller may ack; a redelivered message
 * stores nothing new (the engine keeps one sample per series and timestamp). A body that
 * does not decode is kept whole on the dead-letter subject (it cannot be stored, and retrying would not change
 * that), counted and logged, and acked at once; the good bodies beside it are stored.
 */
export function storeSampleBatches(bus: Bus, history: SampleStore, current: RedisCurrentStore, counters: StoreCounters, logger: Logger) {
  // Messages already set aside: a batch that fails (the engine down) is handed back whole, and its bad message was
  // dead-lettered, counted and logged again on every retry.
  const setAside = new WeakSet<JsMsg>();
  return async (messages: JsMsg[]): Promise<void> => {
    const batches: SampleMessage[] = [];
    const deadLetters: Promise<void>[] = [];
    let redelivered = 0;
    for (const msg of messages) {
      if (setAside.has(msg)) continue;
      const decoded = bus.decode(SUBJECTS.samples, msg.subject, msg.data);
      if (decoded.ok) {
        batches.push(...decoded.value.parts);
        if (msg.redelivered) for (const part of decoded.value.parts) redelivered += part.samples.filter((s) => !isStaleMarker(s)).length;
        continue;
      }
      // Only the processor publishes here, so this is a bug upstream: keep the body for whoever fixes it.
      logger.error('invalid sample batch dead-lettered', { err: decoded.error.message, seq: msg.seq });
      const refusal = { subject: bus.ns.relative(msg.subject) ?? msg.subject, receivedAt: Date.now(), rejections: decoded.error.issues, accepted: 0 };
      deadLetters.push(
        bus.persist(SUBJECTS.deadLetter, [SAMPLES_DEAD_LETTER_SOURCE], deadLetterOf(refusal, msg.data, bus.maxBodyBytes), `deadletter:${bus.ns.stream('SAMPLES')}:${msg.seq}`).then(() => {
          // Its effect is durable (the dead letter): acked now, not after the good ones, which may wait on the engine.
          msg.ack();
          setAside.add(msg);
          counters.invalid(1);
        }),
      );
    }
    await Promise.all(deadLetters);
    const { stored, staleMarkers, lateMinutes } = await history.write(batches);
    await current.update(batches.flatMap((b) => b.samples));
    counters.stored(stored);
    counters.staleMarkers(staleMarkers);
    counters.redelivered(redelivered);
    counters.lateMinutes(lateMinutes);
  };
}
