import type { RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import type { Config } from '@terminusa/config';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { mayAccess, type Role } from '../auth/principal.ts';
import { OTLP_METRICS_PATH, REMOTE_WRITE_PATH } from '../ingest/push-paths.ts';
import { PointLeases } from './point-leases.ts';
import { sendProblem } from './problem.ts';

/** One counted use: allowed or not, and the counter's state for the RateLimit headers. */
export interface RateLimitVerdict {
  allowed: boolean;
  state: RateLimiterRes;
}

const retryAfterSeconds = (state: RateLimiterRes) => Math.max(1, Math.ceil(state.msBeforeNext / 1000));

/** The push receivers of the Prometheus and OpenTelemetry protocols. */
const PUSH_PATHS: ReadonlySet<string> = new Set([REMOTE_WRITE_PATH, OTLP_METRICS_PATH]);

/**
 * Whether a request of an API key of `role` is left out of the request counts: a push of samples by a key that may
 * push, which the pipeline's backlog slows down instead (`ingest.maxBacklogMessages`). Counted per request, a
 * Prometheus' 200 remote_write shards, each backing off up to 5 s when refused, sent about half of what the key's
 * limit allowed (25,334 of 50,000 samples/s: `pnpm bench:remote-write`). A key the gateway has not verified yet is
 * still counted by its address, and so is a key whose role may not push: left out by its path alone, a leaked
 * viewer key sent bodies without limit, each read (a JSON one parsed) before the route refused it 403.
 */
export function countedByBacklog(path: string, role: Role): boolean {
  return PUSH_PATHS.has(path) && mayAccess(role, 'producer');
}

/**
 * The status of a request refused to slow its sender down: 429, except on remote_write, whose senders may drop a
 * batch answered 429 (Prometheus 2 does, as a non-recoverable error, unless `retry_on_http_429`): there 503, which
 * every one of them retries, so that nothing pushed is lost.
 */
export function pushBackStatus(path: string): 429 | 503 {
  return path === REMOTE_WRITE_PATH ? 503 : 429;
}

/** The share of a limit a gateway takes from Redis at once ({@link PointLeases}): a tenth, 10 of the shipped 100 a second. */
const LEASE_SHARE = 10;

/** One request counted in Redis. */
async function countOne(limiter: RateLimiterRedis, key: string): Promise<RateLimitVerdict> {
  try {
    return { allowed: true, state: await limiter.consume(key) };
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err;
    return { allowed: false, state: err };
  }
}

/**
 * A request limit on Redis, so it holds across gateway replicas; answers 429 with Retry-After and RateLimit-* headers.
 * With `leased`, points are taken from Redis a share of the limit at a time and spent locally ({@link PointLeases});
 * a limit under twice that share is counted one by one, as it would be without.
 */
export class RateLimit {
  private readonly counts: Pick<PointLeases, 'consume'>;

  constructor(
    redis: Redis,
    keyPrefix: string,
    private readonly points: number,
    private readonly durationSeconds: number,
    leased = true,
  ) {
    const limiter = new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration: durationSeconds });
    const leaseSize = leased ? Math.floor(points / LEASE_SHARE) : 1;
    this.counts = leaseSize > 1 ? new PointLeases(points, leaseSize, (key, n) => limiter.consume(key, n)) : { consume: (key) => countOne(limiter, key) };
  }

  private headers(res: Response, r: RateLimiterRes): void {
    res.set('RateLimit-Limit', String(this.points));
    res.set('RateLimit-Remaining', String(Math.max(0, r.remainingPoints)));
    res.set('RateLimit-Reset', String(Math.ceil(r.msBeforeNext / 1000)));
  }

  /** Counts one request for `key`; false (after answering 429) when over the limit. */
  async check(key: string, res: Response): Promise<boolean> {
    return this.admit(res, await this.consume(key));
  }

  /** Counts one use for `key` and says whether it is allowed, answering nothing: {@link admit} answers. */
  consume(key: string): Promise<RateLimitVerdict> {
    return this.counts.consume(key);
  }

  /** Sets the RateLimit headers of `verdict`; false after answering with Retry-After (429, or {@link pushBackStatus}'s) when it refused. */
  admit(res: Response, verdict: RateLimitVerdict, status: 429 | 503 = 429): boolean {
    this.headers(res, verdict.state);
    if (verdict.allowed) return true;
    res.set('Retry-After', String(retryAfterSeconds(verdict.state)));
    sendProblem(res, status, `rate limit of ${this.points} requests per ${this.durationSeconds} s exceeded`);
    return false;
  }

  /**
   * Counts one use for `key` outside an Express request (a WebSocket upgrade): the seconds to wait when over the
   * limit, 0 when allowed.
   */
  async take(key: string): Promise<number> {
    const verdict = await this.consume(key);
    return verdict.allowed ? 0 : retryAfterSeconds(verdict.state);
  }

  /** The same as middleware, keyed by what `key` picks from the request. */
  middleware(key: (req: Parameters<RequestHandler>[0]) => string): RequestHandler {
    return async (req, res, next) => {
      try {
        if (await this.check(key(req), res)) next();
      } catch (err) {
        next(err);
      }
    };
  }
}

/** The limits of {@link gatewayRateLimits}. */
export interface GatewayRateLimits {
  perAddress: RateLimit;
  perPrincipal: RateLimit;
  logins: RateLimit;
}

/**
 * The gateway's limits, one Redis counter each whoever counts: per client address (API requests and /ws upgrades
 * alike), per token or API key, and sign-ins per address and minute (counted one by one: a sign-in hashes a password,
 * beside which a round trip is nothing, and a lockout's count is best exact).
 */
export function gatewayRateLimits(redis: Redis, prefix: string, limits: Readonly<Config['gateway']['rateLimit']>): GatewayRateLimits {
  const key = `${prefix}ratelimit:`;
  return {
    perAddress: new RateLimit(redis, `${key}addr`, limits.perAddress, 1),
    perPrincipal: new RateLimit(redis, `${key}principal`, limits.perPrincipal, 1),
    logins: new RateLimit(redis, `${key}login`, limits.loginPerMinute, 60, false),
  };
}
