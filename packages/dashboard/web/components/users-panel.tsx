import type { Role, User } from '../api-types.ts';
import { useDashboard } from '../dashboard-context.ts';
import { formatTime } from '../format-value.ts';
import { useListing } from '../use-listing.ts';

const ROLES: Role[] = ['viewer', 'operator', 'admin'];

/** Users: list, create, change role, disable or enable (`/users`, admin only). */
export function UsersPanel() {
  const { api } = useDashboard();
  const { items: users, error, act } = useListing<User>('/users', 'users');
  const create = (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    void act(async () => {
      await api.post('/users', { username: data.get('username'), password: data.get('password'), role: data.get('role') });
      form.reset();
    });
  };
  return (
    <section class="card" aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">user</th>
              <th scope="col">role</th>
              <th scope="col">created</th>
              <th scope="col">state</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} data-user={u.username}>
                <th scope="row">{u.username}</th>
                <td>
                  <select aria-label={`role of ${u.username}`} value={u.role} onChange={(e) => void act(() => api.patch(`/users/${u.id}`, { role: e.currentTarget.value }))}>
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </td>
                <td>{formatTime(Date.parse(u.createdAt))}</td>
                <td>
                  <button type="button" class="secondary" onClick={() => void act(() => api.patch(`/users/${u.id}`, { disabled: !u.disabled }))}>
                    {u.disabled ? 'Enable' : 'Disable'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form class="inline-form" onSubmit={create} aria-label="new user">
        <label>
          Username
          <input name="username" required pattern="[a-z][a-z0-9._\-]{1,63}" autocomplete="off" />
        </label>
        <label>
          Password
          <input name="password" type="password" required minLength={12} autocomplete="new-password" />
        </label>
        <label>
          Role
          <select name="role">
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Create user</button>
      </form>
      <p role="alert" class="error">
        {error}
      </p>
    </section>
  );
}
