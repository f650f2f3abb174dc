import type { SamplePart } from './schemas.ts';

const encoder = new TextEncoder();

/**
 * `metrics.samples` bodies holding `parts` in order, each at most `maxBytes` long (a part longer than that on
 * its own travels alone). Each part is serialized once; the bodies are assembled from those texts.
 */
export function sampleBatchBodies(parts: readonly SamplePart[], maxBytes: number): { body: Uint8Array; ids: string[] }[] {
  const bodies: { body: Uint8Array; ids: string[] }[] = [];
  const open = '{"parts":[';
  const close = ']}';
  let texts: string[] = [];
  let ids: string[] = [];
  let size = open.length + close.length;
  const flush = () => {
    if (texts.length === 0) return;
    bodies.push({ body: encoder.encode(open + texts.join(',') + close), ids });
    texts = [];
    ids = [];
    size = open.length + close.length;
  };
  for (const part of parts) {
    const text = JSON.stringify(part);
    // Parts are ASCII but for tag values; counting UTF-16 units would undercount those, so count bytes.
    const bytes = Buffer.byteLength(text);
    if (texts.length > 0 && size + 1 + bytes > maxBytes) flush();
    texts.push(text);
    ids.push(part.id);
    size += bytes + (texts.length > 1 ? 1 : 0);
  }
  flush();
  return bodies;
}

/**
 * Most bytes of `metrics.samples` messages a consumer takes in one batch (its `batchBytes` in CONSUMERS): a
 * message holds a whole processor batch, so a count of messages alone would not bound a consumer's memory.
 * About 40,000 samples.
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
