import { Counter, type Registry } from 'prom-client';

/** The processor's own metrics, on the service registry. */
export interface ProcessorMetrics {
  accepted: Counter;
  rejected: Counter<'field'>;
  cardinalityRefused: Counter<'metric'>;
}

/** Registers the processor's counters on `registry`. */
export function createProcessorMetrics(registry: Registry): ProcessorMetrics {
  const registers = [registry];
  return {
    accepted: new Counter({ name: 'tmon_processor_samples_accepted_total', help: 'Samples accepted and forwarded', registers }),
    rejected: new Counter({ name: 'tmon_processor_rejections_total', help: 'Rejected samples or messages, by the field that was wrong', labelNames: ['field'], registers }),
    cardinalityRefused: new Counter({
      name: 'tmon_processor_cardinality_rejections_total',
      help: 'Samples refused because they would start a series past a cardinality limit, by metric name',
      labelNames: ['metric'],
      registers,
    }),
  };
}
