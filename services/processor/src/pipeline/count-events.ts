import { seriesOf, type Stage } from './stage.ts';
import { EVENTS_TOTAL } from './event-increments.ts';

/** One increment of an event counter: `count` adds whole events, `sum` adds event values. */
export interface CounterIncrement {
  series: string;
  kind: 'count' | 'sum';
  by: number;
}

/** Event counters shared by every processor replica, incremented once per stream message. */
export interface EventCounters {
  /**
   * Applies the increments of stream message `seq` unless they were applied before, and returns the counters'
   * totals either way (undefined for a counter that no longer exists).
   */
  count(seq: number, increments: readonly CounterIncrement[]): Promise<(number | undefined)[]>;
}

/**
 * Applies an event's increments and emits the counters' current totals as its samples. A redelivered message
 * emits the same totals again, which storage drops as duplicates.
 */
export function countEvents(counters: EventCounters): Stage {
  return async (work) => {
    const samples = work.samples ?? [];
    if (!work.event || samples.length === 0) return;
    const totals = await counters.count(
      work.seq,
      samples.map((s) => ({ series: seriesOf(s), kind: s.sample.name === EVENTS_TOTAL ? 'count' : 'sum', by: s.sample.value })),
    );
    work.samples = samples.flatMap((s, i) => {
      const total = totals[i];
      return total === undefined ? [] : [{ ...s, sample: { ...s.sample, value: total } }];
    });
  };
}
