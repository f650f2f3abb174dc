import { ApiError } from './api-client.ts';
import { sessionFromToken, type Session } from './session.ts';

async function tokenCall(path: string, init: RequestInit): Promise<Session> {
  const res = await fetch(path, init);
  const json = (await res.json().catch(() => ({}))) as { token?: string; expiresAt?: string; sessionExpiresAt?: string; detail?: string };
  if (!res.ok || !json.token || !json.expiresAt) throw new ApiError(res.status, json.detail ?? res.statusText);
  return sessionFromToken({ token: json.token, expiresAt: json.expiresAt, sessionExpiresAt: json.sessionExpiresAt });
}

/** `POST /auth/login`: a session for a username and password. */
export function login(username: string, password: string): Promise<Session> {
  return tokenCall('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
}

/** `POST /auth/refresh`: a new token of the session, or 'refused' when the token can no longer be refreshed (401: revoked, or the session ended). */
export async function refreshToken(token: string): Promise<Session | 'refused'> {
  try {
    return await tokenCall('/auth/refresh', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return 'refused';
    throw err;
  }
}

/** `POST /auth/logout`: signs the user out everywhere (every token revoked); a failure does not keep anyone signed in. */
export async function logout(token: string): Promise<void> {
  await fetch('/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
}
