import { IngestSampleSchema, fieldPath } from '@terminusa/bus';
import type { Stage } from './stage.ts';
import type { IngestLimits } from './ingest-limits.ts';
import { tagsSchema } from './tags-schema.ts';

/** Validates each sample on its own: a bad one is rejected with its reason, the good ones beside it go on. */
export function validateSamples(limits: Pick<IngestLimits, 'maxTags' | 'maxTagValueLength'>): Stage {
  const schema = IngestSampleSchema.extend({ tags: tagsSchema(limits).optional() });
  return (work) => {
    work.valid = [];
    (work.candidates ?? []).forEach((candidate, index) => {
      const result = schema.safeParse(candidate);
      if (result.success) {
        work.valid!.push({ index, sample: result.data });
        return;
      }
      const issue = result.error.issues[0]!;
      work.rejections.push({ index, field: fieldPath(['samples', index, ...issue.path]), reason: issue.message });
    });
  };
}
