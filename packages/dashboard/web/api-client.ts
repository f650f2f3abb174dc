import type { SessionStore } from './session.ts';

/** A gateway answer of 4xx or 5xx, with the problem document's detail. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${status}: ${detail}`);
  }
}

/** Calls the gateway's HTTP API with the session's bearer token; a 401 signs the user out. */
export class ApiClient {
  constructor(private readonly session: SessionStore) {}

  /** GET `path` as JSON. */
  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** POST `body` as JSON. */
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** PATCH `body` as JSON. */
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  /** DELETE `path`. */
  delete(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  /** Sends one request and parses the JSON answer; throws {@link ApiError} on a 4xx/5xx. */
  async request<T>(method: string, path: string, body?: unknown, token = this.session.current?.token): Promise<T> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      // An expired or revoked token cannot be used again; the sign-in page takes over. Unless the session moved on to
      // a refreshed token while this request was out (the refresh revokes the old one): that session is still good.
      if (res.status === 401 && token && path !== '/auth/login' && token === this.session.current?.token) this.session.set(undefined);
      throw new ApiError(res.status, (json as { detail?: string } | undefined)?.detail ?? res.statusText);
    }
    return json as T;
  }
}
