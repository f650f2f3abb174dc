import { IngestMessageSchema, SOURCE, describeIssues } from '@terminusa/bus';
import { refuse, type Stage } from './stage.ts';
import type { IngestLimits } from './ingest-limits.ts';
import { decodeBody } from './decode-body.ts';

const INGEST_SUBJECT = /^metrics\.ingest\.([^.]+)$/;

/** Checks subject, size, JSON and the `{samples: [...]}` envelope; refuses the whole message if any is wrong. */
export function parseEnvelope(limits: Pick<IngestLimits, 'maxMessageBytes' | 'maxSamplesPerMessage'>): Stage {
  return (work) => {
    const source = INGEST_SUBJECT.exec(work.subject)?.[1];
    if (!source || !SOURCE.test(source)) return refuse(work, 'subject', `unknown subject ${work.subject}: publish to metrics.ingest.<source>, source one token of [A-Za-z0-9_-]`);
    work.source = source;
    const body = decodeBody(work, limits.maxMessageBytes);
    if (!body.ok) return;
    const envelope = IngestMessageSchema.safeParse(body.value);
    if (!envelope.success) {
      for (const issue of describeIssues(envelope.error)) work.rejections.push(issue);
      work.refused = true;
      return;
    }
    if (envelope.data.samples.length > limits.maxSamplesPerMessage) {
      return refuse(work, 'samples', `${envelope.data.samples.length} samples exceed the limit of ${limits.maxSamplesPerMessage} per message`);
    }
    work.candidates = envelope.data.samples;
  };
}
