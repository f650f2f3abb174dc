import type uPlot from 'uplot';

/** How points of one timestamp combine within a series: the last one wins, or they add up (e.g. over interfaces). */
export type Combine = 'last' | 'sum';

/**
 * Points of a few labelled series over a sliding time window, turned into uPlot's aligned columns on demand.
 * Each update replaces the point at its timestamp, so a redelivered sample does not count twice.
 */
export class SeriesWindow {
  readonly #series = new Map<string, Map<number, Map<string, number>>>();
  #newest = -Infinity;
  #prunedAt = -Infinity;

  constructor(
    readonly windowMs: number,
    private readonly combine: Combine = 'last',
  ) {}

  /** Records `value` of series `label` at `ts`; `part` names the contribution when points are summed. */
  add(label: string, ts: number, value: number, part = ''): void {
    if (ts < this.#newest - this.windowMs) return;
    if (ts > this.#newest) this.#newest = ts;
    let points = this.#series.get(label);
    if (!points) this.#series.set(label, (points = new Map()));
    let parts = points.get(ts);
    if (!parts) points.set(ts, (parts = new Map()));
    if (this.combine === 'last') parts.clear();
    parts.set(part, value);
    // Old points go as new ones come, not only when drawn: a window never drawn (a host past the overview's first
    // panels) kept every sample of a tab left open.
    if (this.#newest - this.#prunedAt >= this.windowMs / 10) this.#prune();
  }

  /** The newest point's time (epoch ms); -Infinity when empty. */
  get newest(): number {
    return this.#newest;
  }

  /** Points held, over every series. */
  get size(): number {
    let n = 0;
    for (const points of this.#series.values()) n += points.size;
    return n;
  }

  #prune(): void {
    const cutoff = this.#newest - this.windowMs;
    for (const [label, points] of this.#series) {
      for (const ts of [...points.keys()]) if (ts < cutoff) points.delete(ts);
      if (points.size === 0) this.#series.delete(label);
    }
    this.#prunedAt = this.#newest;
  }

  /** The series' labels, sorted. */
  get labels(): string[] {
    return [...this.#series.keys()].sort();
  }

  /** The newest value of the first series, the one a chart's label shows. */
  get latest(): number | undefined {
    const first = this.labels[0];
    const points = first === undefined ? undefined : this.#series.get(first);
    if (!points?.size) return undefined;
    // A loop, not Math.max(...keys): spread over a hundred thousand points it overflowed the stack and blanked the page.
    let ts = -Infinity;
    for (const t of points.keys()) if (t > ts) ts = t;
    return this.#value(points.get(ts)!);
  }

  /** Time (seconds) and one column per label, over the window ending at the newest point; old points are dropped. */
  aligned(): uPlot.AlignedData {
    let newest = -Infinity;
    for (const points of this.#series.values()) for (const ts of points.keys()) newest = Math.max(newest, ts);
    const cutoff = newest - this.windowMs;
    const times = new Set<number>();
    for (const points of this.#series.values()) {
      for (const ts of [...points.keys()]) {
        if (ts < cutoff) points.delete(ts);
        else times.add(ts);
      }
    }
    const xs = [...times].sort((a, b) => a - b);
    const columns = this.labels.map((label) => {
      const points = this.#series.get(label)!;
      return xs.map((ts) => {
        const parts = points.get(ts);
        return parts ? this.#value(parts) : null;
      });
    });
    return [xs.map((ts) => ts / 1000), ...columns];
  }

  #value(parts: Map<string, number>): number {
    let sum = 0;
    for (const v of parts.values()) sum += v;
    return sum;
  }
}
