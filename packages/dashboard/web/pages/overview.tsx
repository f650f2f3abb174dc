import { useEffect, useMemo, useState } from 'preact/hooks';
import type { HistoryAnswer } from '../api-types.ts';
import { LiveChart } from '../charts/live-chart.tsx';
import { AlertCounts } from '../components/alert-counts.tsx';
import { ServicesPanel } from '../components/services-panel.tsx';
import { useDashboard } from '../dashboard-context.ts';
import { HOST_CHARTS, HOST_METRIC_NAMES, HOST_WINDOW_MS, HostMetrics } from '../host-metrics.ts';

/** One host's CPU, memory, disk and network charts. */
function HostPanel({ host, metrics }: { host: string; metrics: HostMetrics }) {
  return (
    <section class="card host" data-host={host} aria-label={`host ${host}`}>
      <h2>{host}</h2>
      <div class="host-charts">
        {HOST_CHARTS.map((chart) => {
          const window = metrics.window(host, chart.id);
          if (!window) return <p key={chart.id} class="muted chart-empty">{chart.title}: no data yet</p>;
          return <LiveChart key={chart.id} title={chart.title} unit={chart.unit} labels={window.labels} data={window.aligned()} latest={window.latest} windowMs={HOST_WINDOW_MS} metric={chart.metrics[0]!} host={host} />;
        })}
      </div>
    </section>
  );
}

/**
 * Host panels shown at most, in host order: each is up to four charts redrawn with every live update, and a
 * producer can name as many hosts as the cardinality limit lets it (thousands froze the page).
 */
const MAX_HOST_PANELS = 50;

/** The overview: live host charts over the WebSocket, the services and the active alert counts. */
export function OverviewPage() {
  const { api, live } = useDashboard();
  const metrics = useMemo(() => new HostMetrics(), []);
  const [, setVersion] = useState(0);
  useEffect(() => {
    const redraw = () => setVersion((v) => v + 1);
    const stop = live.subscribeMetrics(HOST_METRIC_NAMES, (samples) => metrics.add(samples) && redraw());
    // The collector reports once a minute, so the charts start from the stored history rather than empty.
    const from = Date.now() - HOST_WINDOW_MS;
    for (const name of HOST_METRIC_NAMES) {
      void api
        .get<HistoryAnswer>(`/metrics/history?name=${name}&from=${from}`)
        .then((answer) => {
          const samples = answer.series.flatMap((s) => s.points.map((p) => ({ name, tags: s.tags, ts: p[0], value: p[1] })));
          if (metrics.add(samples)) redraw();
        })
        .catch((err: Error) => console.warn(`history of ${name}:`, err.message));
    }
    return stop;
  }, [api, live, metrics]);
  const hosts = metrics.hosts;
  return (
    <main class="page overview" aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <div class="overview-top">
        <AlertCounts />
        <ServicesPanel />
      </div>
      {hosts.length === 0 && <p class="muted">No host has reported system metrics in the last 30 minutes; the charts appear as the collector's samples arrive.</p>}
      {hosts.slice(0, MAX_HOST_PANELS).map((host) => (
        <HostPanel key={host} host={host} metrics={metrics} />
      ))}
      {hosts.length > MAX_HOST_PANELS && (
        <p class="muted">
          {hosts.length - MAX_HOST_PANELS} more hosts not shown: the explorer charts any of them.
        </p>
      )}
    </main>
  );
}
