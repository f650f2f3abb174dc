import type { Sample } from './api-types.ts';
import { SeriesWindow, type Combine } from './charts/series-window.ts';
import type { Unit } from './format-value.ts';

/** One chart of a host panel: which collector metrics feed it and how a sample becomes a series label. */
export interface HostChart {
  id: 'cpu' | 'memory' | 'disk' | 'network';
  title: string;
  unit: Unit;
  metrics: string[];
  combine: Combine;
  /** The series a sample belongs to, or undefined to leave it out (e.g. per-core CPU). */
  label: (sample: Sample) => string | undefined;
}

/** The overview's charts per host, fed by the collector's system metrics (services/collector/src/system). */
export const HOST_CHARTS: readonly HostChart[] = [
  { id: 'cpu', title: 'CPU', unit: 'percent', metrics: ['system_cpu_usage_percent'], combine: 'last', label: (s) => (!s.tags.cpu || s.tags.cpu === 'total' ? 'usage' : undefined) },
  { id: 'memory', title: 'Memory', unit: 'percent', metrics: ['system_memory_used_percent'], combine: 'last', label: () => 'used' },
  { id: 'disk', title: 'Disk', unit: 'percent', metrics: ['system_disk_used_percent'], combine: 'last', label: (s) => s.tags.mount ?? 'used' },
  {
    id: 'network',
    title: 'Network',
    unit: 'bytes/s',
    metrics: ['system_network_receive_bytes_per_second', 'system_network_transmit_bytes_per_second'],
    // Summed over interfaces, so a host with many (containers, bridges) still shows two lines.
    combine: 'sum',
    label: (s) => (s.tags.interface === 'lo' ? undefined : s.name.includes('receive') ? 'in' : 'out'),
  },
];

/** Every metric name the overview subscribes to. */
export const HOST_METRIC_NAMES = HOST_CHARTS.flatMap((c) => c.metrics);

/** How far back the overview's charts reach. */
export const HOST_WINDOW_MS = 30 * 60_000;

/** The system metrics of every host seen, per chart, over the overview's window. */
export class HostMetrics {
  readonly #hosts = new Map<string, Map<HostChart['id'], SeriesWindow>>();
  readonly #chartsByMetric = new Map(HOST_CHARTS.flatMap((c) => c.metrics.map((m) => [m, c] as const)));

  /** Hosts with a point in the window, sorted. */
  get hosts(): string[] {
    return [...this.#hosts.keys()].sort();
  }

  /** The series of `chart` on `host`. */
  window(host: string, chart: HostChart['id']): SeriesWindow | undefined {
    return this.#hosts.get(host)?.get(chart);
  }

  /** Adds samples of the overview's metrics; returns whether any was kept. */
  add(samples: readonly Sample[]): boolean {
    let kept = false;
    for (const sample of samples) {
      const chart = this.#chartsByMetric.get(sample.name);
      const host = sample.tags.host;
      const label = chart?.label(sample);
      if (!chart || !host || label === undefined) continue;
      let charts = this.#hosts.get(host);
      if (!charts) this.#hosts.set(host, (charts = new Map()));
      let window = charts.get(chart.id);
      if (!window) charts.set(chart.id, (window = new SeriesWindow(HOST_WINDOW_MS, chart.combine)));
      window.add(label, sample.ts, sample.value, `${sample.name}|${sample.tags.interface ?? ''}`);
      kept = true;
    }
    if (kept) this.#forgetSilentHosts();
    return kept;
  }

  /** Drops hosts with no point in the window ending at the newest point of any: a host gone kept its panel and place. */
  #forgetSilentHosts(): void {
    const newestOf = (charts: Map<HostChart['id'], SeriesWindow>) => Math.max(...[...charts.values()].map((w) => w.newest));
    let newest = -Infinity;
    for (const charts of this.#hosts.values()) newest = Math.max(newest, newestOf(charts));
    for (const [host, charts] of this.#hosts) if (newestOf(charts) < newest - HOST_WINDOW_MS) this.#hosts.delete(host);
  }
}
