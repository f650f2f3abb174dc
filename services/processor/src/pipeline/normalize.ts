import { STALE_MARKER, TAGS_JSON } from '@terminusa/bus';
import { sortTags } from '@terminusa/metric-store';
import type { Stage } from './stage.ts';

type DecodedTags = Readonly<Record<string, string>> & { readonly [TAGS_JSON]?: string };

/**
 * Fills the defaults (a missing timestamp is the stream's receipt time, missing tags are empty), leaves out tags
 * whose value is empty, sorts tags, notes their JSON (the series within its metric), and gives a staleness marker its
 * value (STALE_MARKER). Tags of a packed body already sorted carry their JSON (sample-batch-codec.ts), which is then
 * taken as it is.
 */
export const normalize: Stage = (work) => {
  work.samples = (work.valid ?? []).map(({ index, sample }) => {
    const given = (sample.tags ?? {}) as DecodedTags;
    const known = given[TAGS_JSON];
    const tags = known === undefined ? withoutEmpty(sortTags(given)) : given;
    return { index, tagsJson: known ?? JSON.stringify(tags), sample: { name: sample.name, value: sample.stale ? STALE_MARKER : sample.value!, ts: sample.ts ?? work.receivedAt, tags } };
  });
};

/**
 * `tags` without those whose value is empty. A tag with an empty value is no tag, in Prometheus and in the engine,
 * which drops it on import: `cpu{host=""}` and `cpu` were one series there and two in Redis and the counts, and one of
 * two samples accepted at one time was lost.
 */
export function withoutEmpty(tags: Record<string, string>): Record<string, string> {
  let empty = false;
  for (const key in tags) if (tags[key] === '') empty = true;
  if (!empty) return tags;
  const kept: Record<string, string> = {};
  for (const key in tags) if (tags[key] !== '') kept[key] = tags[key]!;
  return kept;
}
