import { sortTags } from '@terminusa/metric-store';
import type { KeyedSample, Stage } from './stage.ts';
import { withoutEmpty } from './normalize.ts';

/** Counter of game events, by source, type and the event's tags. */
export const EVENTS_TOTAL = 'events_total';
/** Sum of the `value` of game events that carry one, by the same tags. */
export const EVENTS_VALUE_TOTAL = 'events_value_total';

/**
 * Turns a parsed event into the increments of its counters: 1 for `events_total` and, when the event has a
 * value, that value for `events_value_total`. The counting stage replaces them with the counters' totals.
 */
export const eventIncrements: Stage = (work) => {
  if (!work.event) return;
  const { type, body } = work.event;
  // Empty values left out as a sample's are: `region: ""` and no region are one counter, as they are one engine series.
  const tags = withoutEmpty(sortTags({ ...body.tags, source: work.source!, type }));
  const ts = body.ts ?? work.receivedAt;
  const tagsJson = JSON.stringify(tags);
  const counter = (name: string, value: number): KeyedSample => ({ tagsJson, sample: { name, value, ts, tags } });
  work.samples = [counter(EVENTS_TOTAL, 1)];
  if (body.value !== undefined) work.samples.push(counter(EVENTS_VALUE_TOTAL, body.value));
};
