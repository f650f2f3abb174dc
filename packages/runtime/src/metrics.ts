import { collectDefaultMetrics, Registry } from 'prom-client';

/** A per-service Prometheus registry with process metrics and the service's labels on every series. */
export function createRegistry(labels: { service: string; instance: string }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, prefix: 'tmon_' });
  return registry;
}
