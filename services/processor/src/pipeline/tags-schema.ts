import { z } from 'zod';
import { TAG_KEY, TAG_KEY_RULE, tagValueSchema } from '@terminusa/bus';
import type { IngestLimits } from './ingest-limits.ts';

/**
 * Tags of a sample or event under the configured limits. It replaces the bus's `TagsSchema`, whose limits are
 * the defaults written as constants, so changing `ingest.maxTags` or `ingest.maxTagValueLength` takes effect here.
 */
export function tagsSchema(limits: Pick<IngestLimits, 'maxTags' | 'maxTagValueLength'>) {
  return z
    .record(z.string().regex(TAG_KEY, TAG_KEY_RULE), tagValueSchema(limits.maxTagValueLength))
    .refine((tags) => Object.keys(tags).length <= limits.maxTags, `at most ${limits.maxTags} tags`);
}
