import { RateLimiterRes } from 'rate-limiter-flexible';

/** What one key holds locally of its window's count: points taken from Redis and not spent yet, or a refusal. */
interface Lease {
  /** Epoch ms at which the Redis window the points came from ends. */
  until: number;
  /** Points of the lease not spent yet. */
  left: number;
  /** The window's count as Redis last answered it: at the limit, requests are refused until `until` once `left` is spent. */
  consumed: number;
  /** The lease being taken, which requests arriving meanwhile wait for instead of taking one each. */
  taking?: Promise<void>;
}

/** The answer of a counter that takes `points` at once: the Redis count after taking them. */
export type TakePoints = (key: string, points: number) => Promise<RateLimiterRes>;

/** Keys held before expired leases are swept out, at most once a second. */
const SWEEP_AT = 10_000;

/**
 * A fixed-window request count kept in Redis (so it holds across gateway replicas) and spent locally: a replica takes
 * `leaseSize` points of a key's window at once and grants requests from them without a round trip, and once Redis
 * refuses it remembers the refusal until the window ends. On this 2-core machine a round trip costs about 0.5 ms of
 * woken processes a request, most of what the admission adds. No window grants more than the limit whatever the
 * replicas; points a replica holds when its window ends are not granted, so a principal whose requests are spread
 * over R replicas may be refused up to R × (leaseSize − 1) requests before its limit.
 */
export class PointLeases {
  private readonly leases = new Map<string, Lease>();
  private nextSweep = 0;

  constructor(
    private readonly limit: number,
    private readonly leaseSize: number,
    private readonly take: TakePoints,
  ) {}

  /** Spends one point of `key`: allowed or not, with the window's state for the headers. */
  async consume(key: string): Promise<{ allowed: boolean; state: RateLimiterRes }> {
    for (;;) {
      const now = Date.now();
      let lease = this.leases.get(key);
      if (lease?.taking) {
        await lease.taking;
        continue;
      }
      if (lease && lease.until > now) {
        if (lease.left > 0) {
          lease.left--;
          return { allowed: true, state: this.state(lease, now) };
        }
        if (lease.consumed >= this.limit) return { allowed: false, state: this.state(lease, now) };
      }
      if (!lease) {
        if (this.leases.size >= SWEEP_AT && now >= this.nextSweep) this.sweep(now);
        this.leases.set(key, (lease = { until: 0, left: 0, consumed: 0 }));
      }
      const taking = this.renew(key, lease);
      lease.taking = taking;
      try {
        await taking;
      } finally {
        delete lease.taking;
      }
    }
  }

  /** Takes a lease of the key's current window: what is left of `leaseSize` below the limit. */
  private async renew(key: string, lease: Lease): Promise<void> {
    let res: RateLimiterRes;
    try {
      res = await this.take(key, this.leaseSize);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        this.leases.delete(key);
        throw err;
      }
      res = err;
    }
    // Redis counts the whole lease even when it refuses: what was below the limit before it is still granted.
    const before = res.consumedPoints - this.leaseSize;
    lease.left = Math.max(0, Math.min(this.leaseSize, this.limit - before));
    lease.consumed = res.consumedPoints;
    lease.until = Date.now() + res.msBeforeNext;
  }

  private state(lease: Lease, now: number): RateLimiterRes {
    const remaining = Math.max(0, this.limit - lease.consumed) + lease.left;
    return new RateLimiterRes(remaining, Math.max(0, lease.until - now), this.limit - remaining, false);
  }

  private sweep(now: number): void {
    this.nextSweep = now + 1_000;
    for (const [key, lease] of this.leases) if (!lease.taking && lease.until <= now) this.leases.delete(key);
  }
}
