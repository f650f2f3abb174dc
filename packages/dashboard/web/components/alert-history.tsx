import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api-client.ts';
import { SEVERITIES, type Alert, type AlertHistoryEvent } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { formatTags, formatTime } from '../format-value.ts';

const SPANS = [
  { id: '1h', label: 'last hour', ms: 3_600_000 },
  { id: '24h', label: 'last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'last 30 days', ms: 30 * 86_400_000 },
];

type HistoryAlert = Alert & { events: AlertHistoryEvent[] };

/** Past and present alerts from `/alerts/history`, filtered by time span, severity and rule, one page at a time. */
export function AlertHistory() {
  const { api } = useDashboard();
  const [span, setSpan] = useState('24h');
  const [severity, setSeverity] = useState('');
  const [rule, setRule] = useState('');
  const [alerts, setAlerts] = useState<HistoryAlert[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');
  const load = async (before?: string) => {
    const to = Date.now();
    const params = new URLSearchParams({ from: String(to - SPANS.find((s) => s.id === span)!.ms), to: String(to), limit: '50' });
    if (severity) params.set('severity', severity);
    if (rule.trim()) params.set('rule', rule.trim());
    if (before) params.set('before', before);
    try {
      const answer = await api.get<{ alerts: HistoryAlert[]; next: string | null }>(`/alerts/history?${params}`);
      setAlerts((shown) => (before ? [...shown, ...answer.alerts] : answer.alerts));
      setNext(answer.next);
      setError('');
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
    }
  };
  useEffect(() => void load(), [span, severity]);
  return (
    <section class="card" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          Span
          <select value={span} onChange={(e) => setSpan(e.currentTarget.value)}>
            {SPANS.map((s) => (
              <option key={s.id} value={s.id}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Severity
          <select value={severity} onChange={(e) => setSeverity(e.currentTarget.value)}>
            <option value="">any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Rule
          <input value={rule} onInput={(e) => setRule(e.currentTarget.value)} placeholder="rule name" />
        </label>
        <button type="submit">Filter</button>
      </form>
      {error && <p class="error">{error}</p>}
      <div class="table-scroll">
        <table class="history-table">
          <thead>
            <tr>
              <th scope="col">severity</th>
              <th scope="col">rule</th>
              <th scope="col">labels</th>
              <th scope="col">started</th>
              <th scope="col">state</th>
              <th scope="col">events</th>
            </tr>
          </thead>
          <tbody>
            {alerts.map((a) => (
              <tr key={a.id} class={`sev-${a.severity}`}>
                <td>
                  <span class={`badge sev-${a.severity}`}>{a.severity}</span>
                </td>
                <td>{a.rule}</td>
                <td>{formatTags(a.labels)}</td>
                <td>{formatTime(a.startsAt)}</td>
                <td>{a.state}</td>
                <td>{a.events.map((e) => e.kind).join(' → ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {alerts.length === 0 && !error && <p class="muted">No alerts in this span.</p>}
      {next && (
        <button type="button" class="secondary" onClick={() => void load(next)}>
          Older
        </button>
      )}
    </section>
  );
}
