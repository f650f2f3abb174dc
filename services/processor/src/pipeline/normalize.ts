import { STALE_MARKER, TAGS_JSON } from '@terminusa/bus';
import { sortTags } from '@terminusa/metric-store';
import type { Stage } from './stage.ts';

type DecodedTags = Readonly<Record<string, string>> & { readonly [TAGS_JSON]?: string };

/**
 * Fills the defaults (a missing timestamp is the stream's receipt time, missing tags are empty), sorts tags, notes
 * their JSON (the series within its metric), and gives a staleness marker its value (STALE_MARKER). Tags of a packed
 * body already sorted carry their JSON (sample-batch-codec.ts), which is then taken as it is.
 */
export const normalize: Stage = (work) => {
  work.samples = (work.valid ?? []).map(({ index, sample }) => {
    const given = (sample.tags ?? {}) as DecodedTags;
    const known = given[TAGS_JSON];
    const tags = known === undefined ? sortTags(given) : given;
    return { index, tagsJson: known ?? JSON.stringify(tags), sample: { name: sample.name, value: sample.stale ? STALE_MARKER : sample.value!, ts: sample.ts ?? work.receivedAt, tags } };
  });
};
