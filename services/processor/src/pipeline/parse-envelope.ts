import { IngestMessageSchema, SOURCE, describeIssues } from '@terminusa/bus';
import type { Stage } from './stage.ts';

const INGEST_SUBJECT = /^metrics\.ingest\.([^.]+)$/;

/** Limits on one ingest message. */
export interface EnvelopeLimits {
  maxMessageBytes: number;
  maxSamplesPerMessage: number;
}

/** Checks subject, size, JSON and the `{samples: [...]}` envelope; refuses the whole message if any is wrong. */
export function parseEnvelope(limits: EnvelopeLimits): Stage {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return (work) => {
    const refuse = (field: string, reason: string) => {
      work.rejections.push({ field, reason });
      work.refused = true;
    };
    const source = INGEST_SUBJECT.exec(work.subject)?.[1];
    if (!source || !SOURCE.test(source)) return refuse('subject', `unknown subject ${work.subject}: publish to metrics.ingest.<source>, source one token of [A-Za-z0-9_-]`);
    work.source = source;
    if (work.raw.byteLength > limits.maxMessageBytes) return refuse('(message)', `message of ${work.raw.byteLength} bytes exceeds the limit of ${limits.maxMessageBytes}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(work.raw));
    } catch (err) {
      return refuse('(message)', `malformed JSON: ${(err as Error).message}`);
    }
    const envelope = IngestMessageSchema.safeParse(parsed);
    if (!envelope.success) {
      for (const issue of describeIssues(envelope.error)) work.rejections.push(issue);
      work.refused = true;
      return;
    }
    if (envelope.data.samples.length > limits.maxSamplesPerMessage) {
      return refuse('samples', `${envelope.data.samples.length} samples exceed the limit of ${limits.maxSamplesPerMessage} per message`);
    }
    work.candidates = envelope.data.samples;
  };
}
