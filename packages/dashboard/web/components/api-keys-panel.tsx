import { useState } from 'preact/hooks';
import type { ApiKey, Role } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { formatTime } from '../format-value.ts';
import { useListing } from '../use-listing.ts';

/** The live API keys: list, create (the secret is shown once), revoke (`/api-keys`, admin only). */
export function ApiKeysPanel() {
  const { api } = useDashboard();
  const { items: keys, error, act } = useListing<ApiKey>('/api-keys', 'apiKeys');
  const [secret, setSecret] = useState('');
  const create = (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void act(async () => {
      const answer = await api.post<{ secret: string }>('/api-keys', { name: data.get('name'), role: data.get('role') as Role });
      setSecret(answer.secret);
      form.reset();
    });
  };
  return (
    <section class="card" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">name</th>
              <th scope="col">role</th>
              <th scope="col">created</th>
              <th scope="col">last used</th>
              <th scope="col">action</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <th scope="row">{k.name}</th>
                <td>{k.role}</td>
                <td>
                  {formatTime(Date.parse(k.createdAt))} by {k.createdBy}
                </td>
                <td>{k.lastUsedAt ? formatTime(Date.parse(k.lastUsedAt)) : 'never'}</td>
                <td>
                  <button type="button" class="secondary" onClick={() => void act(() => api.delete(`/api-keys/${k.id}`))}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form class="inline-form" onSubmit={create} aria-label="new API key">
        <label>
          Name
          <input name="name" required maxLength={100} autocomplete="off" />
        </label>
        <label>
          Role
          <select name="role">
            <option value="viewer">viewer</option>
            <option value="operator">operator</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <button type="submit">Create key</button>
      </form>
      {secret && (
        <p class="secret" role="status">
          New key (shown once): <code>{secret}</code>
        </p>
      )}
      <p role="alert" class="error">
        {error}
      </p>
    </section>
  );
}
