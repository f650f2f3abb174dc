import { useEffect, useState } from 'preact/hooks';
import type { HealthAnswer } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';

/** How often discovery is asked again: instances come and go on the scale of minutes, and discovery is not on the live stream. */
const REFRESH_MS = 15_000;

/** Each service with its live instances and status, and the gateway's dependencies, from `GET /health/details`. */
export function ServicesPanel() {
  const { api } = useDashboard();
  const [health, setHealth] = useState<HealthAnswer | undefined>();
  const [error, setError] = useState('');
  useEffect(() => {
    let stopped = false;
    const load = () =>
      api
        .get<HealthAnswer>('/health/details')
        .then((h) => !stopped && (setHealth(h), setError('')))
        .catch((err: Error) => !stopped && setError(err.message));
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [api]);
  return (
    <section class="card services" aria-labelledby="services-title">
      <h2 id="services-title">
        Services <span class={`status status-${health?.status ?? 'unknown'}`}>{health?.status ?? '…'}</span>
      </h2>
      {error && <p class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">service</th>
            <th scope="col">instances</th>
            <th scope="col">status</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(health?.services ?? {}).map(([name, s]) => (
            <tr key={name} data-service={name}>
              <th scope="row">{name}</th>
              <td>
                {s.instances}
                {s.live.length > 0 && (
                  <ul class="instances muted">
                    {s.live.map((i) => (
                      <li key={i.instance} title={`v${i.version}, since ${i.started}`}>
                        {i.instance}
                      </li>
                    ))}
                  </ul>
                )}
              </td>
              <td>
                <span class={`status status-${s.status}`}>{s.status}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {health && (
        <p class="muted deps">
          {Object.entries(health.dependencies).map(([name, d]) => (
            <span key={name} class={`status status-${d.ok ? 'up' : 'down'}`}>
              {name} {d.ok ? 'ok' : 'down'}
            </span>
          ))}
        </p>
      )}
    </section>
  );
}
