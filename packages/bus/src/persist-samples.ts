import type { Bus } from './bus.ts';
import { STALE_MARKER, type IngestSample, type Sample } from './schemas.ts';
import { SUBJECTS } from './subjects.ts';
import { encodeSampleBatch } from './sample-batch-codec.ts';

/** How large an INGEST message the suite publishes itself may be. */
export interface MessageLimits {
  /** Most samples a message (ingest.publishedMessageSamples). */
  samples: number;
  /** Most bytes a message (ingest.maxMessageBytes, which the processor refuses past; the connection's max payload is kept to as well). */
  bytes: number;
}

/** A sample whose message alone would be larger than a message may be (a label value of megabytes): nothing of its request is published. */
export class SampleTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SampleTooLargeError';
  }
}

const utf8 = new TextEncoder();

/**
 * An INGEST body for samples that all carry their time, packed as `metrics.samples` bodies are (one part, see
 * sample-batch-codec.ts): the processor reads it at a third of a JSON body's cost (0.65 against 1.6 µs a sample
 * with 200,000 series), and bench:remote-write's processor spent a quarter of its time parsing the gateway's JSON.
 * Samples without a time keep the JSON form, whose missing `ts` the processor fills with the receipt time.
 */
function ingestBody(source: string, id: string, samples: readonly IngestSample[]): Uint8Array {
  const packed: Sample[] = [];
  for (const s of samples) {
    if (s.ts === undefined) return utf8.encode(JSON.stringify({ samples }));
    packed.push({ name: s.name, value: s.stale ? STALE_MARKER : s.value!, ts: s.ts, tags: s.tags ?? {} });
  }
  return encodeSampleBatch({ parts: [{ id, source, samples: packed }] });
}

/**
 * The messages of `samples`: at most `limits.samples` each, halved until each is at most `limits.bytes` (series
 * with long labels make large samples, and a message the processor refuses as too large would lose all of them).
 * The same samples and limits always give the same messages, ids `<id>:<n>` in order.
 */
function messagesOf(source: string, samples: readonly IngestSample[], limits: MessageLimits, id: string): { msgID: string; body: Uint8Array }[] {
  const out: { msgID: string; body: Uint8Array }[] = [];
  const add = (slice: readonly IngestSample[]): void => {
    const msgID = `${id}:${out.length}`;
    const body = ingestBody(source, msgID, slice);
    if (body.byteLength <= limits.bytes) return void out.push({ msgID, body });
    if (slice.length === 1) {
      throw new SampleTooLargeError(`a sample of ${slice[0]!.name} takes ${body.byteLength} bytes in a message, more than the ${limits.bytes} a message may have (ingest.maxMessageBytes)`);
    }
    const half = Math.ceil(slice.length / 2);
    add(slice.slice(0, half));
    add(slice.slice(half));
  };
  for (let at = 0; at < samples.length; at += limits.samples) add(samples.slice(at, at + limits.samples));
  return out;
}

/**
 * Publishes samples the suite makes itself (pushed requests, recording rules' results) into INGEST as `source`, in
 * messages within `limits`, with the ids `<id>:<n>`: the same samples published again under the same id are
 * stored once by JetStream. Every message is built before the first is published, so a sample too large for any
 * (SampleTooLargeError) publishes nothing. Resolves once JetStream holds every message.
 */
export async function persistSamples(bus: Bus, source: string, samples: readonly IngestSample[], limits: MessageLimits, id: string): Promise<void> {
  const messages = messagesOf(source, samples, { samples: limits.samples, bytes: Math.min(limits.bytes, bus.maxBodyBytes) }, id);
  await Promise.all(messages.map(({ msgID, body }) => bus.persistEncoded(SUBJECTS.ingest, [source], body, msgID)));
}
