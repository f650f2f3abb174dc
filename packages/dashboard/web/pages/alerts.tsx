import { useState } from 'preact/hooks';
import type { Alert } from '../api-types.ts';
import { AlertCard } from '../components/alert-card.tsx';
import { AlertHistory } from '../components/alert-history.tsx';
import { SilenceForm } from '../components/silence-form.tsx';
import { SilenceList } from '../components/silence-list.tsx';
import { useActiveAlerts, useDashboard } from '../dashboard-context.ts';
import { hasRole } from '../session.ts';

/** Active alerts (live), silences and the alert history. */
export function AlertsPage() {
  const { session } = useDashboard();
  const alerts = useActiveAlerts();
  const [silencing, setSilencing] = useState<{ from: Alert | undefined } | undefined>();
  const [silenceVersion, setSilenceVersion] = useState(0);
  const list = alerts.list;
  return (
    <main class="page alerts" aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      <section class="card" aria-labelledby="active-title">
        <h2 id="active-title">
          Active <span class="muted">({list.length})</span>
        </h2>
        {/* Announced to screen readers as alerts come and go. */}
        <ul class="alert-list" aria-live="polite" aria-relevant="additions removals" data-loaded={alerts.loaded ? 'yes' : 'no'}>
          {list.map((alert) => (
            <AlertCard key={alert.id} alert={alert} onSilence={(from) => setSilencing({ from })} />
          ))}
        </ul>
        {alerts.loaded && list.length === 0 && <p class="muted">No active alerts.</p>}
      </section>
      {silencing && (
        <SilenceForm
          from={silencing.from}
          onDone={() => {
            setSilencing(undefined);
            setSilenceVersion((v) => v + 1);
          }}
        />
      )}
      {hasRole(session.role, 'operator') && !silencing && (
        <button type="button" class="secondary" onClick={() => setSilencing({ from: undefined })}>
          New silence
        </button>
      )}
      <SilenceList version={silenceVersion} />
      <AlertHistory />
    </main>
  );
}
