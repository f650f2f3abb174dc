import { IngestSampleSchema, MAX_TAG_KEY_LENGTH, METRIC_NAME, TAG_KEY, TAG_VALUE_FORBIDDEN, fieldPath, issueReason, type IngestSample } from '@terminusa/bus';
import type { Stage } from './stage.ts';
import type { IngestLimits } from './ingest-limits.ts';
import { tagsSchema } from './tags-schema.ts';

type TagLimits = Pick<IngestLimits, 'maxTags' | 'maxTagValueLength'>;

/**
 * `candidate` as a sample when it is certainly valid under `limits`, judged without the schema at a fraction of
 * its cost; undefined when the schema must judge and explain it. It accepts nothing the schema refuses (a
 * property test holds the two together), so the schema stays the one statement of the rules.
 */
export function fastSample(candidate: unknown, limits: TagLimits): IngestSample | undefined {
  if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) return undefined;
  const c = candidate as Record<string, unknown>;
  for (const key in c) if (key !== 'name' && key !== 'value' && key !== 'ts' && key !== 'tags') return undefined;
  const { name, value, ts, tags } = c;
  if (typeof name !== 'string' || name.length > 200 || !METRIC_NAME.test(name)) return undefined;
  // A staleness marker (no value, `stale: true`) is rare: the schema judges it.
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  if (ts !== undefined && !(Number.isSafeInteger(ts) && (ts as number) > 0)) return undefined;
  if (tags !== undefined) {
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) return undefined;
    let count = 0;
    for (const key in tags) {
      const v = (tags as Record<string, unknown>)[key];
      // The key's length as the schema's tagKeySchema holds it: 400 KB keys passed here and filled the series memory.
      if (++count > limits.maxTags || typeof v !== 'string' || v.length > limits.maxTagValueLength || v.includes(TAG_VALUE_FORBIDDEN) || !v.isWellFormed() || key.length > MAX_TAG_KEY_LENGTH || !TAG_KEY.test(key)) return undefined;
    }
  }
  return c as IngestSample;
}

/** The sample schema under the configured tag limits. */
export function ingestSampleSchema(limits: TagLimits) {
  return IngestSampleSchema.safeExtend({ tags: tagsSchema(limits).optional() });
}

/** Validates each sample on its own: a bad one is rejected with its reason, the good ones beside it go on. */
export function validateSamples(limits: TagLimits): Stage {
  const schema = ingestSampleSchema(limits);
  return (work) => {
    work.valid = [];
    (work.candidates ?? []).forEach((candidate, index) => {
      const fast = fastSample(candidate, limits);
      if (fast) {
        work.valid!.push({ index, sample: fast });
        return;
      }
      const result = schema.safeParse(candidate);
      if (result.success) {
        work.valid!.push({ index, sample: result.data });
        return;
      }
      const issue = result.error.issues[0]!;
      work.rejections.push({ index, field: fieldPath(['samples', index, ...issue.path]), reason: issueReason(issue) });
    });
  };
}
