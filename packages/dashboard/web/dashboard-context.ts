import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { ActiveAlerts } from './active-alerts.ts';
import type { ApiClient } from './api-client.ts';
import type { LiveSocket } from './live-socket.ts';
import type { Session } from './session.ts';

/** What every page reaches: the API, the live stream, the active alerts and the signed-in session. */
export interface Dashboard {
  api: ApiClient;
  live: LiveSocket;
  alerts: ActiveAlerts;
  session: Session;
}

/** The dashboard's shared services, provided by the app once signed in. */
export const DashboardContext = createContext<Dashboard | undefined>(undefined);

/** The shared services; only rendered inside a signed-in app. */
export function useDashboard(): Dashboard {
  const value = useContext(DashboardContext);
  if (!value) throw new Error('useDashboard outside the signed-in app');
  return value;
}

/** The active alerts, re-rendering the caller on every change. */
export function useActiveAlerts() {
  const { alerts } = useDashboard();
  const [, setVersion] = useState(alerts.version);
  useEffect(() => {
    const unsubscribe = alerts.subscribe(() => setVersion(alerts.version));
    // Effects run after the paint, late on a busy machine: a change in between (the first load answering) had no
    // listener, and the page showed the alerts as not loaded until the next alert event. An unchanged version
    // renders nothing again.
    setVersion(alerts.version);
    return unsubscribe;
  }, [alerts]);
  return alerts;
}
