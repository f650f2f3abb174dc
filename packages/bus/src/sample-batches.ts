/**
 * Most bytes of `metrics.samples` messages a consumer takes in one batch (its `batchBytes` in CONSUMERS): a
 * message holds a whole processor batch, so a count of messages alone would not bound a consumer's memory.
 * About 100,000 samples.
 */
export const SAMPLE_BATCH_BYTES = 4 * 1024 * 1024;

/** The CORE_CONFIG limits that bound a consumer's in-flight messages. */
export interface InFlightLimits {
  /** Ingest messages in flight. */
  queueSize: number;
  /** Ingest messages per processor batch. */
  batchSize: number;
}

/**
 * The in-flight limit (max ack pending) of a `metrics.samples` consumer. `core.queueSize` counts ingest
 * messages, and a SAMPLES message carries up to `core.batchSize` of them, so the same bound in SAMPLES messages
 * is the quotient. The messages a client pulls wait in its memory until acked, so queueSize whole batches would
 * be hundreds of megabytes in a consumer that falls behind.
 */
export function sampleMessagesInFlight(core: InFlightLimits): number {
  return Math.max(2, Math.ceil(core.queueSize / core.batchSize));
}

/**
 * The in-flight limit of the storage's `metrics.samples` consumer: ten times {@link sampleMessagesInFlight}. The
 * storage acks a message only after the engine's next sync (up to `storage.engine.syncIntervalMs`), so with the
 * alert-manager's limit it could take in ten messages a sync: a live fleet's small batches queued up behind that
 * (bench:ingest, 100,000 series at 15 s). Batches under load are large, so its memory still stays bounded by the
 * pull's bytes.
 */
export function storageMessagesInFlight(core: InFlightLimits): number {
  return 10 * sampleMessagesInFlight(core);
}
