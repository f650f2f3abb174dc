import { MAX_TAG_KEY_LENGTH, TAG_VALUE_FORBIDDEN } from './schemas.ts';

/** The processor's limits on a sample's tags (ingest.maxTags, ingest.maxTagValueLength), which every door holds its series to. */
export interface TagLimits {
  readonly maxTags: number;
  readonly maxTagValueLength: number;
}

/**
 * Whether the processor would refuse a sample carrying `tags` (their names' characters are the caller's to check):
 * more than maxTags, a name longer than MAX_TAG_KEY_LENGTH, or a value longer than maxTagValueLength, holding NUL or
 * a lone surrogate, as its validate-samples.ts judges them. `adds` names a label the samples add to these (a
 * histogram bucket's `le`). Judged where samples are made (the gateway's push readers, the collector's scrapes):
 * refused by the processor, each had gone to the dead letters one by one, uncounted where it was made.
 */
export function tagsRefused(tags: Readonly<Record<string, string>>, limits: TagLimits, adds?: string): boolean {
  let count = adds !== undefined && !Object.hasOwn(tags, adds) ? 1 : 0;
  for (const [key, value] of Object.entries(tags)) {
    if (++count > limits.maxTags || key.length > MAX_TAG_KEY_LENGTH || value.length > limits.maxTagValueLength || value.includes(TAG_VALUE_FORBIDDEN) || !value.isWellFormed()) return true;
  }
  return false;
}
