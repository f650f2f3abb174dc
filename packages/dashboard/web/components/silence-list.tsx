import type { Silence } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { formatTime } from '../format-value.ts';
import { hasRole } from '../session.ts';
import { useListing } from '../use-listing.ts';

/** Silences that have not ended, each expirable by operators and admins; `version` reloads the list. */
export function SilenceList({ version }: { version: number }) {
  const { api, session } = useDashboard();
  const { items: silences, error, act } = useListing<Silence>('/silences', 'silences', version);
  const expire = (id: string) => act(() => api.delete(`/silences/${id}`));
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
