import type { Role } from './api-types.ts';

/** A signed-in user: the bearer token and what its claims say. */
export interface Session {
  token: string;
  /** Epoch ms. */
  expiresAt: number;
  /** Epoch ms the session ends (auth.sessionLifetime after sign-in): no refresh reaches past it. */
  sessionExpiresAt?: number;
  subject: string;
  role: Role;
}

const STORAGE_KEY = 'tmon.session';
/** How long before expiry a refresh is tried; the gateway refreshes only inside its window (auth.refreshWindow, 300 s by default). */
const REFRESH_LEAD_MS = 60_000;
/** Retry delay when a refresh failed for a reason that may pass (network, 5xx). */
const REFRESH_RETRY_MS = 10_000;

/** The claims of a JWT, read without verifying (the gateway verifies; the dashboard only needs role and subject). */
function claimsOf(token: string): { sub?: string; role?: string } {
  const payload = token.split('.')[1] ?? '';
  try {
    return JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: string; role?: string };
  } catch {
    return {};
  }
}

/** A session from a login or refresh answer. */
export function sessionFromToken(answer: { token: string; expiresAt: string; sessionExpiresAt?: string | undefined }): Session {
  const claims = claimsOf(answer.token);
  const role = claims.role === 'admin' || claims.role === 'operator' ? claims.role : 'viewer';
  const session: Session = { token: answer.token, expiresAt: Date.parse(answer.expiresAt), subject: claims.sub ?? '', role };
  if (answer.sessionExpiresAt) session.sessionExpiresAt = Date.parse(answer.sessionExpiresAt);
  return session;
}

/** Whether `role` is at least `least`. */
export function hasRole(role: Role, least: Role): boolean {
  const order: Role[] = ['viewer', 'operator', 'admin'];
  return order.indexOf(role) >= order.indexOf(least);
}

/**
 * The token in memory and in sessionStorage (so a reload keeps the tab signed in, but a new tab or a closed browser
 * does not), with a timer that refreshes it inside its refresh window, or signs out when it expires with its session.
 */
export class SessionStore {
  #session: Session | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #listeners = new Set<(s: Session | undefined) => void>();

  constructor(private readonly refresh: (token: string) => Promise<Session | 'refused'>) {
    const saved = sessionStorage.getItem(STORAGE_KEY);
    const session = saved ? (JSON.parse(saved) as Session) : undefined;
    if (session && session.expiresAt > Date.now()) this.set(session);
    else sessionStorage.removeItem(STORAGE_KEY);
  }

  /** The current session, if signed in. */
  get current(): Session | undefined {
    return this.#session;
  }

  /** Calls `listener` on every change (sign-in, refresh, sign-out); returns the unsubscribe. */
  subscribe(listener: (s: Session | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Replaces the session (or clears it with undefined) and re-arms the refresh timer. */
  set(session: Session | undefined): void {
    this.#session = session;
    clearTimeout(this.#timer);
    if (session) {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
      // A token that lasts until its session's end cannot be refreshed: the session simply ends with it.
      const last = session.sessionExpiresAt !== undefined && session.expiresAt >= session.sessionExpiresAt;
      this.#schedule(session, Math.max(0, session.expiresAt - (last ? 0 : REFRESH_LEAD_MS) - Date.now()));
    } else {
      sessionStorage.removeItem(STORAGE_KEY);
    }
    for (const listener of this.#listeners) listener(session);
  }

  #schedule(session: Session, delayMs: number): void {
    this.#timer = setTimeout(() => void this.#refreshNow(session), delayMs);
  }

  async #refreshNow(session: Session): Promise<void> {
    if (this.#session !== session) return;
    if (session.expiresAt <= Date.now()) return this.set(undefined);
    const fresh = await this.refresh(session.token).catch(() => undefined);
    if (this.#session !== session) return;
    if (fresh === 'refused') return this.set(undefined);
    if (fresh) return this.set(fresh);
    this.#schedule(session, Math.min(REFRESH_RETRY_MS, Math.max(0, session.expiresAt - Date.now())));
  }
}
