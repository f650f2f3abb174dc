import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ActiveAlerts } from './active-alerts.ts';
import { ApiClient } from './api-client.ts';
import { logout } from './auth-api.ts';
import { DashboardContext } from './dashboard-context.ts';
import { useHashRoute, type Page } from './hash-route.ts';
import { LiveSocket, type LiveStatus } from './live-socket.ts';
import { AdminPage } from './pages/admin.tsx';
import { AlertsPage } from './pages/alerts.tsx';
import { ExplorerPage } from './pages/explorer.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { SignInPage } from './pages/sign-in.tsx';
import { hasRole, type Session, type SessionStore } from './session.ts';

const NAV: { page: Page; label: string; admin?: boolean }[] = [
  { page: 'overview', label: 'Overview' },
  { page: 'explorer', label: 'Explorer' },
  { page: 'alerts', label: 'Alerts' },
  { page: 'admin', label: 'Admin', admin: true },
];

const PAGE_VIEWS: Record<Page, () => preact.JSX.Element> = { overview: OverviewPage, explorer: ExplorerPage, alerts: AlertsPage, admin: AdminPage };

/** The dashboard: the sign-in page, or the signed-in pages with the live stream open. */
export function App({ sessions }: { sessions: SessionStore }) {
  const [session, setSession] = useState<Session | undefined>(sessions.current);
  const page = useHashRoute();
  const services = useMemo(() => {
    const api = new ApiClient(sessions);
    // A stream refused with the session's own token: an API call tells whether the session is over (a 401 signs out).
    const live = new LiveSocket(
      () => sessions.current?.token,
      () => void api.get('/silences').catch(() => undefined),
    );
    return { api, live, alerts: new ActiveAlerts(api, live) };
  }, [sessions]);
  const [liveStatus, setLiveStatus] = useState<LiveStatus>('offline');

  // Each takes the current value once subscribed: a change between the render and the effect had no listener.
  useEffect(() => {
    const unsubscribe = sessions.subscribe(setSession);
    setSession(sessions.current);
    return unsubscribe;
  }, [sessions]);
  useEffect(() => {
    const unsubscribe = services.live.onStatus(setLiveStatus);
    setLiveStatus(services.live.status);
    return unsubscribe;
  }, [services]);
  const signedIn = session !== undefined;
  useEffect(() => {
    if (!signedIn) return;
    services.live.open();
    services.alerts.start().catch((err: Error) => console.warn('active alerts:', err.message));
    return () => {
      services.live.close();
      services.alerts.stop();
    };
  }, [signedIn, services]);
  // A refreshed token is handed to the open stream, which would otherwise be closed when the old one expires.
  useEffect(() => {
    if (session) services.live.reauthenticate(session.token);
  }, [session?.token, services]);
  const firstPage = useRef(true);
  useEffect(() => {
    document.title = `${page[0]!.toUpperCase()}${page.slice(1)} · Terminusa Monitoring`;
    // After a page change, keyboard and screen-reader users continue at the new page's content, not at the nav link.
    if (!firstPage.current) document.getElementById('content')?.focus();
    firstPage.current = false;
  }, [page]);

  if (!session) return <SignInPage onSignedIn={(s) => sessions.set(s)} />;
  const signOut = async () => {
    const token = session.token;
    sessions.set(undefined);
    await logout(token);
  };
  const View = PAGE_VIEWS[page];
  return (
    <DashboardContext.Provider value={{ ...services, session }}>
      <a class="skip-link" href="#content">
        Skip to content
      </a>
      <header class="top-bar">
        <span class="brand">Terminusa Monitoring</span>
        <nav aria-label="pages">
          <ul>
            {NAV.filter((n) => !n.admin || hasRole(session.role, 'admin')).map((n) => (
              <li key={n.page}>
                <a href={`#/${n.page}`} aria-current={n.page === page ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`live-status live-${liveStatus}`} role="status" data-live={liveStatus}>
          {liveStatus === 'live' ? '● live' : liveStatus === 'connecting' ? '○ connecting' : '○ offline'}
        </span>
        <span class="who" data-role={session.role}>
          {session.subject} ({session.role})
        </span>
        <button type="button" class="secondary" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <div id="content" tabIndex={-1}>
        <View />
      </div>
    </DashboardContext.Provider>
  );
}
