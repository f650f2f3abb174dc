import { z } from 'zod';
import { tagKeySchema, tagValueSchema } from '@terminusa/bus';
import type { IngestLimits } from './ingest-limits.ts';

/**
 * Tags of a sample or event under the configured limits. It replaces the bus's `TagsSchema`, whose limits are
 * the defaults written as constants, so changing `ingest.maxTags` or `ingest.maxTagValueLength` takes effect here.
 */
export function tagsSchema(limits: Pick<IngestLimits, 'maxTags' | 'maxTagValueLength'>) {
  return z
    .record(tagKeySchema(), tagValueSchema(limits.maxTagValueLength))
    .refine((tags) => Object.keys(tags).length <= limits.maxTags, `at most ${limits.maxTags} tags`);
}

/**
 * Whether `value` (a sample or an event) has tags with a `__proto__` key, which JSON.parse makes an own key and a zod
 * record leaves out without a word: the sample became one of the series without that tag, and one of two samples at
 * one time was lost. Such tags are refused by the key's name, as any key the rule refuses.
 */
export function hasProtoTag(value: unknown): boolean {
  const tags = typeof value === 'object' && value !== null ? (value as { tags?: unknown }).tags : undefined;
  return typeof tags === 'object' && tags !== null && Object.hasOwn(tags, '__proto__');
}
