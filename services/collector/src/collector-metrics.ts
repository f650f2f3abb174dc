import { Counter, type Registry } from 'prom-client';

/** The collector's own metrics, on the service registry. */
export interface CollectorMetrics {
  samplesPublished: Counter<'source'>;
  scrapes: Counter<'target' | 'outcome'>;
  samplesDropped: Counter<'target' | 'reason'>;
  probes: Counter<'probe' | 'outcome'>;
  jobsRun: Counter<'kind'>;
  jobsAbandoned: Counter<'kind'>;
}

/** Registers the collector's counters on `registry`. */
export function createCollectorMetrics(registry: Registry): CollectorMetrics {
  const registers = [registry];
  return {
    samplesPublished: new Counter({ name: 'tmon_collector_samples_published_total', help: 'Samples published, per source', labelNames: ['source'], registers }),
    scrapes: new Counter({ name: 'tmon_collector_scrapes_total', help: 'Scrapes of Prometheus-text targets, by outcome (up, down)', labelNames: ['target', 'outcome'], registers }),
    samplesDropped: new Counter({
      name: 'tmon_collector_scrape_samples_dropped_total',
      help: 'Scraped samples left out: NaN/Inf values (nonfinite) or samples ingest would refuse (invalid)',
      labelNames: ['target', 'reason'],
      registers,
    }),
    probes: new Counter({ name: 'tmon_collector_probes_total', help: 'HTTP and TCP probes run, by outcome (success, failure)', labelNames: ['probe', 'outcome'], registers }),
    jobsRun: new Counter({ name: 'tmon_collector_jobs_run_total', help: 'Collection jobs this replica ran, by kind', labelNames: ['kind'], registers }),
    jobsAbandoned: new Counter({
      name: 'tmon_collector_jobs_abandoned_total',
      help: 'Collection jobs whose replica died running them, left undone by this one (that period missed), by kind',
      labelNames: ['kind'],
      registers,
    }),
  };
}
