import { IngestMessageSchema, SOURCE, SampleBatchFormatError, decodeSampleBatch, isPackedSampleBatch, type Sample } from '@terminusa/bus';
import { refuse, refuseIssues, type IngestWork, type Stage } from './stage.ts';
import type { IngestLimits } from './ingest-limits.ts';
import { decodeBody, withinSize } from './decode-body.ts';

const INGEST_SUBJECT = /^metrics\.ingest\.([^.]+)$/;

/**
 * The samples of a packed body (the form the gateway and the rules publish, see persist-samples.ts) as candidates
 * like those of a JSON body: a NaN value is a staleness marker, written as a producer writes one. The codec has
 * checked names, times and that tag values are strings; the sample checks after this stage check the rest.
 */
function packedCandidates(work: IngestWork): unknown[] | undefined {
  try {
    return decodeSampleBatch(work.raw).parts.flatMap((part) =>
      part.samples.map((s: Sample) => (Number.isNaN(s.value) ? { name: s.name, stale: true as const, ts: s.ts, tags: s.tags } : s)),
    );
  } catch (err) {
    if (!(err instanceof SampleBatchFormatError)) throw err;
    refuse(work, err.field, `malformed packed body: ${err.reason}`);
    return undefined;
  }
}

/** Checks subject, size, JSON (or the packed form) and the `{samples: [...]}` envelope; refuses the whole message if any is wrong. */
export function parseEnvelope(limits: Pick<IngestLimits, 'maxMessageBytes' | 'maxSamplesPerMessage'>): Stage {
  return (work) => {
    const source = INGEST_SUBJECT.exec(work.subject)?.[1];
    if (!source || !SOURCE.test(source)) return refuse(work, 'subject', `unknown subject ${work.subject}: publish to metrics.ingest.<source>, source one token of [A-Za-z0-9_-]`);
    work.source = source;
    let samples: unknown[];
    if (isPackedSampleBatch(work.raw)) {
      const candidates = withinSize(work, limits.maxMessageBytes) ? packedCandidates(work) : undefined;
      if (!candidates) return;
      samples = candidates;
    } else {
      const body = decodeBody(work, limits.maxMessageBytes);
      if (!body.ok) return;
      const envelope = IngestMessageSchema.safeParse(body.value);
      if (!envelope.success) return refuseIssues(work, envelope.error);
      samples = envelope.data.samples;
    }
    if (samples.length > limits.maxSamplesPerMessage) {
      return refuse(work, 'samples', `${samples.length} samples exceed the limit of ${limits.maxSamplesPerMessage} per message`);
    }
    work.candidates = samples;
  };
}
