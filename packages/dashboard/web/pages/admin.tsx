import { ApiKeysPanel } from '../components/api-keys-panel.tsx';
import { BackupsPanel } from '../components/backups-panel.tsx';
import { UsersPanel } from '../components/users-panel.tsx';
import { useDashboard } from '../dashboard-context.ts';
import { hasRole } from '../session.ts';

/** Users, API keys and backups; admins only (the gateway refuses the calls to anyone else too). */
export function AdminPage() {
  const { session } = useDashboard();
  if (!hasRole(session.role, 'admin')) {
    return (
      <main class="page" aria-labelledby="admin-title">
        <h1 id="admin-title">Admin</h1>
        <p>Only admins see this page.</p>
      </main>
    );
  }
  return (
    <main class="page admin" aria-labelledby="admin-title">
      <h1 id="admin-title">Admin</h1>
      <UsersPanel />
      <ApiKeysPanel />
      <BackupsPanel />
    </main>
  );
}
