import type { ApiClient } from './api-client.ts';
import type { Alert, AlertTransition } from './api-types.ts';
import type { LiveSocket } from './live-socket.ts';

/** Events after which an alert is no longer active. */
const ENDING = new Set<AlertTransition['kind']>(['resolved', 'inactive']);
/** Delays before a failed first load is tried again: doubling from the first, at most the last. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** The active alerts: loaded once from `/alerts/active`, then kept current by the live stream's alert events. */
export class ActiveAlerts {
  #alerts = new Map<string, Alert>();
  #loaded = false;
  #version = 0;
  readonly #listeners = new Set<() => void>();
  #stop: (() => void) | undefined;
  #stopStatus: (() => void) | undefined;
  /** Changes heard while a load is in flight, applied again on top of its answer (which may predate them). */
  readonly #heard = new Set<((alerts: Map<string, Alert>) => void)[]>();

  constructor(
    private readonly api: ApiClient,
    private readonly live: LiveSocket,
  ) {}

  /** Active alerts, most severe and oldest first. */
  get list(): Alert[] {
    const rank = { critical: 0, warning: 1, info: 2 } as const;
    return [...this.#alerts.values()].sort((a, b) => rank[a.severity] - rank[b.severity] || a.startsAt - b.startsAt);
  }

  /** Whether the first load has answered. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * Subscribes to alert events, then loads the current set (events arriving meanwhile are kept). A failed first
   * load (a 429 or 5xx, the network) is tried again until it answers: the page would otherwise show no alert at all
   * until the stream reconnects.
   */
  async start(): Promise<void> {
    if (this.#stop) return;
    const subscription = this.live.subscribeAlerts((event) => this.#apply(event));
    this.#stop = subscription;
    // Events sent while the stream was down are lost, so a reconnect reads the whole set again.
    this.#stopStatus = this.live.onStatus((status) => {
      if (status === 'live' && this.#loaded) this.#load(true).catch((err: Error) => console.warn('active alerts:', err.message));
    });
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#load(false);
      } catch (err) {
        console.warn('active alerts:', (err as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(FIRST_RETRY_MS * 2 ** attempt, MAX_RETRY_MS)));
      // Signed out (or out and in again) meanwhile: that start is over.
      if (this.#stop !== subscription) return;
    }
  }

  async #load(replace: boolean): Promise<void> {
    const heard: ((alerts: Map<string, Alert>) => void)[] = [];
    this.#heard.add(heard);
    let alerts: Alert[];
    try {
      ({ alerts } = await this.api.get<{ alerts: Alert[] }>('/alerts/active'));
    } finally {
      this.#heard.delete(heard);
    }
    // The answer may be older than the events heard while it was read (an alert resolved, or fired, meanwhile):
    // they are applied again on top of it. Taken as it came, it brought back a resolved alert on the first load,
    // and a reload after a reconnect lost one that fired during it.
    const next = new Map(alerts.map((a) => [a.id, a]));
    if (!replace) for (const [id, alert] of this.#alerts) next.set(id, alert);
    for (const change of heard) change(next);
    this.#alerts = next;
    this.#loaded = true;
    this.#changed();
  }

  /** Stops following events and forgets the alerts (sign-out). */
  stop(): void {
    this.#stop?.();
    this.#stopStatus?.();
    this.#stop = undefined;
    this.#stopStatus = undefined;
    this.#alerts = new Map();
    this.#loaded = false;
  }

  /** Replaces one alert with a newer copy (the answer of an acknowledgement). */
  update(alert: Alert): void {
    this.#change((alerts) => alerts.set(alert.id, alert));
  }

  /** Calls `listener` on every change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #apply(event: AlertTransition): void {
    this.#change((alerts) => (ENDING.has(event.kind) ? alerts.delete(event.alert.id) : alerts.set(event.alert.id, event.alert)));
  }

  #change(change: (alerts: Map<string, Alert>) => void): void {
    change(this.#alerts);
    for (const heard of this.#heard) heard.push(change);
    this.#changed();
  }

  /** Counts changes, so a view can tell whether one came between its render and its subscription. */
  get version(): number {
    return this.#version;
  }

  #changed(): void {
    this.#version++;
    for (const listener of this.#listeners) listener();
  }
}
