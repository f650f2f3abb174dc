import { z } from 'zod';
import { TAG_KEY_RULE, tagKeySchema, tagValueSchema } from '@terminusa/bus';
import type { IngestLimits } from './ingest-limits.ts';

/**
 * Tags of a sample or event under the configured limits. It replaces the bus's `TagsSchema`, whose limits are
 * the defaults written as constants, so changing `ingest.maxTags` or `ingest.maxTagValueLength` takes effect here.
 *
 * A `__proto__` key, which JSON.parse makes an own key, is refused by its name as any key the rule refuses, before
 * the record: a zod record leaves it out without a word, and the sample became one of the series without that tag
 * (one of two samples at one time was lost).
 */
export function tagsSchema(limits: Pick<IngestLimits, 'maxTags' | 'maxTagValueLength'>) {
  return z
    .custom<Record<string, string>>((tags) => typeof tags !== 'object' || tags === null || !Object.hasOwn(tags, '__proto__'), { error: TAG_KEY_RULE, path: ['__proto__'], abort: true })
    .pipe(z.record(tagKeySchema(), tagValueSchema(limits.maxTagValueLength)))
    .refine((tags) => Object.keys(tags).length <= limits.maxTags, `at most ${limits.maxTags} tags`);
}
