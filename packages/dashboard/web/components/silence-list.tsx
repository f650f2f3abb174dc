import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api-client.ts';
import type { Silence } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { formatTime } from '../format-value.ts';
import { hasRole } from '../session.ts';

/** Silences that have not ended, each expirable by operators and admins; `version` reloads the list. */
export function SilenceList({ version }: { version: number }) {
  const { api, session } = useDashboard();
  const [silences, setSilences] = useState<Silence[]>([]);
  const [error, setError] = useState('');
  const [reload, setReload] = useState(0);
  useEffect(() => {
    api
      .get<{ silences: Silence[] }>('/silences')
      .then((a) => setSilences(a.silences))
      .catch((err: Error) => setError(err.message));
  }, [api, version, reload]);
  const expire = async (id: string) => {
    try {
      await api.delete(`/silences/${id}`);
      setReload((r) => r + 1);
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : String(err));
    }
  };
  return (
    <section class="card" aria-labelledby="silences-title">
      <h2 id="silences-title">Silences</h2>
      {error && <p class="error">{error}</p>}
      {silences.length === 0 ? (
        <p class="muted">No silences.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">matchers</th>
              <th scope="col">until</th>
              <th scope="col">why</th>
              <th scope="col">by</th>
              {hasRole(session.role, 'operator') && <th scope="col">action</th>}
            </tr>
          </thead>
          <tbody>
            {silences.map((s) => (
              <tr key={s.id} data-silence-id={s.id}>
                <td>{s.matchers.map((m) => `${m.tag}${m.op}${m.value}`).join(', ')}</td>
                <td>{formatTime(s.endsAt)}</td>
                <td>{s.comment}</td>
                <td>{s.createdBy}</td>
                {hasRole(session.role, 'operator') && (
                  <td>
                    <button type="button" class="secondary" onClick={() => void expire(s.id)}>
                      Expire
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
