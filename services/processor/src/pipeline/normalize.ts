import { STALE_MARKER } from '@terminusa/bus';
import { sortTags } from '@terminusa/metric-store';
import type { Stage } from './stage.ts';

/**
 * Fills the defaults (a missing timestamp is the stream's receipt time, missing tags are empty), sorts tags, notes
 * their JSON (the series within its metric), and gives a staleness marker its value (STALE_MARKER).
 */
export const normalize: Stage = (work) => {
  work.samples = (work.valid ?? []).map(({ index, sample }) => {
    const tags = sortTags(sample.tags ?? {});
    return { index, tagsJson: JSON.stringify(tags), sample: { name: sample.name, value: sample.stale ? STALE_MARKER : sample.value!, ts: sample.ts ?? work.receivedAt, tags } };
  });
};
