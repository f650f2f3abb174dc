import type { AlertTransition, Sample } from './api-types.ts';

/** The state of the live connection, shown in the header. */
export type LiveStatus = 'connecting' | 'live' | 'offline';

/** Subprotocol the gateway's live stream speaks. */
const LIVE_SUBPROTOCOL = 'tmon.live.v1';
/**
 * The gateway's close code for bad, expired or revoked credentials (sign-out elsewhere, a new password, a changed
 * role, a disabled user, an ended session): reconnecting with the same token would not help.
 */
const CLOSE_UNAUTHORIZED = 4401;
/** The gateway's close code when this user has its most live connections open already (other tabs). */
const CLOSE_TOO_MANY = 4429;
const MAX_BACKOFF_MS = 15_000;

type ServerMessage =
  | { type: 'ready'; role: string }
  | { type: 'subscribed' }
  | { type: 'samples'; samples: Sample[] }
  | { type: 'alert'; event: AlertTransition }
  | { type: 'notification' }
  | { type: 'error'; error: string };

interface MetricSubscription {
  patterns: string[];
  matchers: RegExp[];
  listener: (samples: Sample[]) => void;
}

const patternRegex = (pattern: string) => new RegExp(`^${pattern.replace(/\*/g, '[a-zA-Z0-9_:]*')}$`);

/**
 * One WebSocket to the gateway's `/ws` for the whole dashboard: pages add and remove metric patterns and alert
 * listeners, and the socket keeps the gateway's subscriptions equal to their union, across reconnects.
 */
export class LiveSocket {
  #ws: WebSocket | undefined;
  #ready = false;
  #closed = true;
  #backoffMs = 500;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #status: LiveStatus = 'offline';
  readonly #metricSubs = new Set<MetricSubscription>();
  readonly #alertListeners = new Set<(event: AlertTransition) => void>();
  readonly #statusListeners = new Set<(status: LiveStatus) => void>();
  /** How many subscriptions want each pattern, so a pattern is unsubscribed only when nobody wants it. */
  readonly #patternCounts = new Map<string, number>();

  /**
   * `token` gives the session's current token; `refused` is called with the token the gateway refused (4401) while
   * it is still the session's, so the app can find out whether the session is over.
   */
  constructor(
    private readonly token: () => string | undefined,
    private readonly refused: (token: string) => void = () => undefined,
  ) {}

  /** The connection's state. */
  get status(): LiveStatus {
    return this.#status;
  }

  /** Opens the connection (and keeps it open, reconnecting with backoff) until {@link close}. */
  open(): void {
    if (!this.#closed) return;
    this.#closed = false;
    this.#connect();
  }

  /** Closes the connection for good (sign-out). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#ws?.close(1000, 'signed out');
    this.#ws = undefined;
    this.#setStatus('offline');
  }

  /** Hands a refreshed token to the open connection, which the gateway accepts without reconnecting. */
  reauthenticate(token: string): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'auth', token }));
  }

  /** Calls `listener` with the samples of names matching `patterns` (`*` wildcards); returns the unsubscribe. */
  subscribeMetrics(patterns: string[], listener: (samples: Sample[]) => void): () => void {
    const sub: MetricSubscription = { patterns, matchers: patterns.map(patternRegex), listener };
    this.#metricSubs.add(sub);
    const added = patterns.filter((p) => this.#count(p, +1) === 1);
    if (added.length) this.#send({ type: 'subscribe', metrics: added });
    return () => {
      if (!this.#metricSubs.delete(sub)) return;
      const removed = patterns.filter((p) => this.#count(p, -1) === 0);
      if (removed.length) this.#send({ type: 'unsubscribe', metrics: removed });
    };
  }

  /** Calls `listener` with every alert event; returns the unsubscribe. */
  subscribeAlerts(listener: (event: AlertTransition) => void): () => void {
    this.#alertListeners.add(listener);
    if (this.#alertListeners.size === 1) this.#send({ type: 'subscribe', alerts: true });
    return () => {
      if (this.#alertListeners.delete(listener) && this.#alertListeners.size === 0) this.#send({ type: 'unsubscribe', alerts: true });
    };
  }

  /** Calls `listener` on every status change; returns the unsubscribe. */
  onStatus(listener: (status: LiveStatus) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  #count(pattern: string, delta: number): number {
    const n = (this.#patternCounts.get(pattern) ?? 0) + delta;
    if (n > 0) this.#patternCounts.set(pattern, n);
    else this.#patternCounts.delete(pattern);
    return n;
  }

  #send(message: object): void {
    // Before `ready` the subscriptions are sent whole by #onReady, so nothing is lost by skipping here.
    if (this.#ready && this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #setStatus(status: LiveStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    for (const listener of this.#statusListeners) listener(status);
  }

  #connect(): void {
    const token = this.token();
    if (this.#closed || !token) return;
    this.#setStatus('connecting');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const ws = new WebSocket(url, LIVE_SUBPROTOCOL);
    this.#ws = ws;
    this.#ready = false;
    // The token goes in the first message rather than the URL, so it stays out of access logs.
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
    ws.onmessage = (event) => this.#receive(JSON.parse(String(event.data)) as ServerMessage);
    ws.onclose = (event) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#ready = false;
      this.#setStatus('offline');
      if (this.#closed) return;
      let delay = this.#backoffMs;
      if (event.code === CLOSE_UNAUTHORIZED) {
        // A token replaced meanwhile (a refresh) is tried at once; the same token is reported, and tried again late,
        // by when the session is refreshed or signed out.
        const current = this.token();
        if (current === token) this.refused(token);
        delay = current && current !== token ? 0 : MAX_BACKOFF_MS;
      } else if (event.code === CLOSE_TOO_MANY) {
        delay = MAX_BACKOFF_MS;
      }
      this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
      this.#retry = setTimeout(() => this.#connect(), delay);
    };
  }

  #receive(message: ServerMessage): void {
    switch (message.type) {
      case 'ready':
        this.#onReady();
        break;
      case 'samples':
        for (const sub of this.#metricSubs) {
          const matching = message.samples.filter((s) => sub.matchers.some((m) => m.test(s.name)));
          if (matching.length) sub.listener(matching);
        }
        break;
      case 'alert':
        for (const listener of this.#alertListeners) listener(message.event);
        break;
      case 'error':
        console.warn('live stream:', message.error);
        break;
    }
  }

  #onReady(): void {
    const first = !this.#ready;
    this.#ready = true;
    this.#backoffMs = 500;
    this.#setStatus('live');
    if (!first) return;
    const metrics = [...this.#patternCounts.keys()];
    if (metrics.length || this.#alertListeners.size) {
      this.#send({ type: 'subscribe', ...(metrics.length ? { metrics } : {}), ...(this.#alertListeners.size ? { alerts: true } : {}) });
    }
  }
}
