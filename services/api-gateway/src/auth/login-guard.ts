import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Counts failed logins per user and per address in Redis (so the count holds across gateway replicas);
 * after `maxAttempts` failures further attempts are refused for `lockoutSeconds`.
 */
export class LoginGuard {
  private readonly byUser: RateLimiterRedis;
  private readonly byAddress: RateLimiterRedis;

  constructor(redis: Redis, prefix: string, maxAttempts: number, lockoutSeconds: number) {
    const common = { storeClient: redis, points: maxAttempts, duration: lockoutSeconds, blockDuration: lockoutSeconds };
    this.byUser = new RateLimiterRedis({ ...common, keyPrefix: `${prefix}login-fail-user` });
    this.byAddress = new RateLimiterRedis({ ...common, keyPrefix: `${prefix}login-fail-addr` });
  }

  /** Seconds until attempts are allowed again for this user or address, or 0 when they are allowed now. */
  async lockedFor(username: string, address: string): Promise<number> {
    const [u, a] = await Promise.all([this.byUser.get(username), this.byAddress.get(address)]);
    const wait = (r: RateLimiterRes | null, limit: number) => (r && r.consumedPoints >= limit ? Math.ceil(r.msBeforeNext / 1000) : 0);
    return Math.max(wait(u, this.byUser.points), wait(a, this.byAddress.points));
  }

  /** Counts a failure; returns the lock-out in seconds if this failure reached the limit. */
  async failed(username: string, address: string): Promise<number> {
    const results = await Promise.allSettled([this.byUser.consume(username), this.byAddress.consume(address)]);
    const blocked = results.flatMap((r) => (r.status === 'rejected' && r.reason instanceof RateLimiterRes ? [Math.ceil(r.reason.msBeforeNext / 1000)] : []));
    return blocked.length ? Math.max(...blocked) : 0;
  }

  /** A successful login clears the user's failures (not the address's: one good password must not unlock a brute force). */
  async succeeded(username: string): Promise<void> {
    await this.byUser.delete(username);
  }
}
