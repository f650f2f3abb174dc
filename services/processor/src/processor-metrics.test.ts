import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createProcessorMetrics, REFUSED_METRICS_LABELLED } from './processor-metrics.ts';

describe('the processor’s metrics', () => {
  it('label cardinality refusals by metric name for the first names only, the rest as _other, so a flood of new names grows no counter', async () => {
    const registry = new Registry();
    const metrics = createProcessorMetrics(registry);
    for (let i = 0; i < REFUSED_METRICS_LABELLED + 50; i++) metrics.cardinalityRefused(`flood_${i}`);
    metrics.cardinalityRefused('flood_0');
    const { values } = (await registry.getSingleMetric('tmon_processor_cardinality_rejections_total')!.get()) as unknown as { values: { labels: { metric: string }; value: number }[] };
    expect(values).toHaveLength(REFUSED_METRICS_LABELLED + 1);
    expect(values.find((v) => v.labels.metric === 'flood_0')!.value).toBe(2);
    expect(values.find((v) => v.labels.metric === '_other')!.value).toBe(50);
  });
});
