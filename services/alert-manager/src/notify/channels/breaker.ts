import CircuitBreaker from 'opossum';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ChannelName, Notification } from '@terminusa/alerting';
import { DeliveryError, type Channel } from './channel.ts';

/** Values of `tmon_alert_channel_breaker_state`. */
export const BREAKER_STATES = { closed: 0, 'half-open': 1, open: 2 } as const;
/** A circuit breaker state. */
export type BreakerState = keyof typeof BREAKER_STATES;

/** Outcomes counted by `tmon_alert_channel_deliveries_total`. */
export const DELIVERY_OUTCOMES = ['delivered', 'failed_retryable', 'failed_permanent', 'circuit_open'] as const;
/** One delivery outcome. */
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** Milliseconds an open breaker waits before it lets one trial delivery through. */
export const DEFAULT_RESET_TIMEOUT_MS = 30_000;
/** Milliseconds the breaker allows beyond the channel's own timeout, so the channel's clearer error normally wins. */
export const BREAKER_TIMEOUT_MARGIN_MS = 1_000;

/** Options of a BreakerChannel. */
export interface BreakerOptions {
  /** Where the breaker's metrics are registered (never the global registry). */
  registry: Registry;
  /** The wrapped channel's own timeout; defaults to the channel's `timeoutMs` if it has one, else 10 s. */
  timeoutMs?: number;
  resetTimeoutMs?: number;
}

interface ChannelMetrics {
  state: Gauge<'channel'>;
  deliveries: Counter<'channel' | 'outcome'>;
}

// One set of metrics per registry, shared by every channel wrapped on it (a name can be registered only once).
const metricsByRegistry = new WeakMap<Registry, ChannelMetrics>();

function channelMetrics(registry: Registry): ChannelMetrics {
  let metrics = metricsByRegistry.get(registry);
  if (!metrics) {
    metrics = {
      state: new Gauge({ name: 'tmon_alert_channel_breaker_state', help: 'Circuit breaker state per notification channel (0 closed, 1 half-open, 2 open)', labelNames: ['channel'], registers: [registry] }),
      deliveries: new Counter({ name: 'tmon_alert_channel_deliveries_total', help: 'Notification deliveries per channel and outcome', labelNames: ['channel', 'outcome'], registers: [registry] }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

/**
 * A channel behind an opossum circuit breaker: after 3 or more deliveries of which over half failed it stops
 * calling the receiver and rejects at once with a retryable DeliveryError, until a trial after `resetTimeoutMs` succeeds.
 */
export class BreakerChannel implements Channel {
  readonly name: ChannelName;
  readonly #breaker: CircuitBreaker<[Notification], void>;
  readonly #metrics: ChannelMetrics;
  readonly #breakerTimeoutMs: number;
  readonly #resetTimeoutMs: number;

  constructor(inner: Channel & { readonly timeoutMs?: number }, options: BreakerOptions) {
    this.name = inner.name;
    this.#metrics = channelMetrics(options.registry);
    this.#breakerTimeoutMs = (options.timeoutMs ?? inner.timeoutMs ?? 10_000) + BREAKER_TIMEOUT_MARGIN_MS;
    this.#resetTimeoutMs = options.resetTimeoutMs ?? DEFAULT_RESET_TIMEOUT_MS;
    // Every failure counts, permanent ones too: a receiver that refuses everything should not be hammered either.
    this.#breaker = new CircuitBreaker((n: Notification) => inner.send(n), {
      name: inner.name,
      timeout: this.#breakerTimeoutMs,
      errorThresholdPercentage: 50,
      volumeThreshold: 3,
      resetTimeout: this.#resetTimeoutMs,
    });
    this.#breaker.on('open', () => this.#setState('open'));
    this.#breaker.on('halfOpen', () => this.#setState('half-open'));
    this.#breaker.on('close', () => this.#setState('closed'));
    this.#setState('closed');
  }

  /** The breaker's current state. */
  get state(): BreakerState {
    return this.#breaker.opened ? 'open' : this.#breaker.halfOpen ? 'half-open' : 'closed';
  }

  /** Delivers through the breaker; rejects with a retryable "circuit open" DeliveryError while it is open. */
  async send(n: Notification): Promise<void> {
    try {
      await this.#breaker.fire(n);
    } catch (err) {
      const [error, outcome] = this.#classify(err);
      this.#count(outcome);
      throw error;
    }
    this.#count('delivered');
  }

  /** Stops the breaker's timers; later sends reject. */
  shutdown(): void {
    this.#breaker.shutdown();
  }

  #classify(err: unknown): [DeliveryError, DeliveryOutcome] {
    if (err instanceof DeliveryError) return [err, err.retryable ? 'failed_retryable' : 'failed_permanent'];
    if (err instanceof Error && CircuitBreaker.isOurError(err)) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ETIMEDOUT') {
        return [new DeliveryError(this.name, `${this.name} delivery did not finish within ${this.#breakerTimeoutMs} ms`, { retryable: true }), 'failed_retryable'];
      }
      // EOPENBREAKER, or a second send while the half-open trial is still running (or after shutdown).
      return [new DeliveryError(this.name, `circuit open for ${this.name}`, { retryable: true, retryAfterMs: this.#resetTimeoutMs }), 'circuit_open'];
    }
    // A channel should only throw DeliveryErrors; anything else is kept as the cause and retried.
    return [new DeliveryError(this.name, `${this.name} delivery failed unexpectedly`, { retryable: true, cause: err }), 'failed_retryable'];
  }

  #setState(state: BreakerState): void {
    this.#metrics.state.set({ channel: this.name }, BREAKER_STATES[state]);
  }

  #count(outcome: DeliveryOutcome): void {
    this.#metrics.deliveries.inc({ channel: this.name, outcome });
  }
}
