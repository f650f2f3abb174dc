import { refuse, seriesOf, type Stage } from './stage.ts';
import { EVENTS_TOTAL } from './event-increments.ts';

/** One increment of an event counter: `count` adds whole events, `sum` adds event values; `ts` is the event's time. */
export interface CounterIncrement {
  series: string;
  kind: 'count' | 'sum';
  by: number;
  ts: number;
}

/** What counting a message gave: each counter's total and its timestamp, or the counter a sum would overflow. */
export type CounterTotals = { totals: ({ total: number; ts: number } | undefined)[]; overflow?: undefined } | { overflow: string; totals?: undefined };

/** Event counters shared by every processor replica, incremented once per stream message. */
export interface EventCounters {
  /**
   * Applies the increments of stream message `seq` unless they were applied before, and returns the totals it
   * emitted (the same on a redelivery; undefined for a counter that no longer exists). A total's timestamp is the
   * event's, or just after the counter's last one when that is later: a counter never goes back in time.
   */
  count(seq: number, increments: readonly CounterIncrement[]): Promise<CounterTotals>;
}

/**
 * Applies an event's increments and emits the counters' totals as its samples. A redelivered message emits the
 * same samples again, which storage keeps once. A value that would take its sum past a double's range is refused
 * (a total of Infinity would make every batch it rides in undecodable downstream).
 */
export function countEvents(counters: EventCounters): Stage {
  return async (work) => {
    const samples = work.samples ?? [];
    if (!work.event || samples.length === 0) return;
    const counted = await counters.count(
      work.seq,
      samples.map((s) => ({ series: seriesOf(s), kind: s.sample.name === EVENTS_TOTAL ? 'count' : 'sum', by: s.sample.value, ts: s.sample.ts })),
    );
    if (counted.overflow !== undefined) {
      // Refused whole: its increments left here went on as samples, a counter of 1 that read as a reset downstream.
      work.samples = [];
      return refuse(work, 'value', `the sum ${counted.overflow} would leave the range of a double`);
    }
    work.samples = samples.flatMap((s, i) => {
      const total = counted.totals[i];
      return total === undefined ? [] : [{ ...s, sample: { ...s.sample, value: total.total, ts: total.ts } }];
    });
  };
}
