import { SEVERITIES } from '../api-types.ts';
import { useActiveAlerts } from '../dashboard-context.ts';

/** Counts of active alerts by severity, each a link to the alerts page. */
export function AlertCounts() {
  const alerts = useActiveAlerts();
  const list = alerts.list;
  return (
    <section class="card alert-counts" aria-labelledby="alert-counts-title">
      <h2 id="alert-counts-title">Active alerts</h2>
      <ul aria-live="polite">
        {SEVERITIES.map((severity) => (
          <li key={severity} class={`count sev-${severity}`} data-severity={severity}>
            <a href="#/alerts">
              <strong data-count={list.filter((a) => a.severity === severity).length}>{list.filter((a) => a.severity === severity).length}</strong> {severity}
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
