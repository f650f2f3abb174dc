import { Counter, type Registry } from 'prom-client';

/** The processor's own metrics, on the service registry. */
export interface ProcessorMetrics {
  accepted: Counter;
  rejected: Counter<'field'>;
  /** Counts a sample refused by a cardinality limit under its metric's name, or `_other` past the names labelled. */
  cardinalityRefused(metric: string): void;
}

/**
 * Metric names given a label value of their own in the cardinality refusals; later ones are counted as `_other`. The
 * names come from producers, and past the total series limit every new name is refused: labelled one by one, they
 * grew the counter (and /metrics) for the life of the process exactly while the guard held a flood back.
 */
export const REFUSED_METRICS_LABELLED = 100;

/** Registers the processor's counters on `registry`. */
export function createProcessorMetrics(registry: Registry): ProcessorMetrics {
  const registers = [registry];
  const refused = new Counter({
    name: 'tmon_processor_cardinality_rejections_total',
    help: `Samples refused because they would start a series past a cardinality limit, by metric name (the first ${REFUSED_METRICS_LABELLED} names; later ones as _other)`,
    labelNames: ['metric'],
    registers,
  });
  const labelled = new Set<string>();
  return {
    accepted: new Counter({ name: 'tmon_processor_samples_accepted_total', help: 'Samples accepted and forwarded', registers }),
    rejected: new Counter({ name: 'tmon_processor_rejections_total', help: 'Rejected samples or messages, by the field that was wrong', labelNames: ['field'], registers }),
    cardinalityRefused(metric) {
      if (!labelled.has(metric) && labelled.size < REFUSED_METRICS_LABELLED) labelled.add(metric);
      refused.inc({ metric: labelled.has(metric) ? metric : '_other' });
    },
  };
}
