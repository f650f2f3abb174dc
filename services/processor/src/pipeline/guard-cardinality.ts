import { sampleField, seriesOf, type Stage } from './stage.ts';

/** The setting that refused a new series. */
export type CardinalityLimit = 'maxSeriesPerMetric' | 'maxSeriesTotal';

/** Why one new series was refused. */
export interface CardinalityRefusal {
  limit: CardinalityLimit;
  max: number;
}

/** What the index needs of a sample: its metric name and tags, and their JSON (a sample of the pipeline is one). */
export interface SeriesOfSample {
  readonly tagsJson: string;
  readonly sample: { readonly name: string; readonly tags: Readonly<Record<string, string>> };
}

/** The series known so far, shared by every processor replica, and the limits on new ones. */
export interface SeriesIndex {
  /** Adds the new series among `samples` (a series may repeat) while the limits allow, atomically; returns the refused ones by series key ({@link seriesOf}). */
  admit(samples: readonly SeriesOfSample[]): Promise<Map<string, CardinalityRefusal>>;
}

function reason(name: string, key: string, refusal: CardinalityRefusal): string {
  const reached = refusal.limit === 'maxSeriesPerMetric' ? `${name} already has ${refusal.max} series` : `${refusal.max} series exist in total`;
  return `cardinality limit: ${reached} (ingest.${refusal.limit}); the new series ${key} is refused`;
}

/**
 * Refuses samples that would start a new series past the limits per metric name or in total; samples of known
 * series always pass. All series of a message are checked in one call, so concurrent replicas cannot overshoot.
 */
export function guardCardinality(index: SeriesIndex, onRefused: (metric: string) => void): Stage {
  return async (work) => {
    const samples = work.samples ?? [];
    if (samples.length === 0) return;
    const refused = await index.admit(samples);
    if (refused.size === 0) return;
    work.samples = samples.filter((s) => {
      const series = seriesOf(s);
      const refusal = refused.get(series);
      if (!refusal) return true;
      work.rejections.push({ ...(s.index === undefined ? {} : { index: s.index }), field: sampleField(s), reason: reason(s.sample.name, series, refusal) });
      onRefused(s.sample.name);
      return false;
    });
  };
}
