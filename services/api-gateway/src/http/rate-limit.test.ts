import { beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { ROLES } from '../auth/principal.ts';
import { countedByBacklog, RateLimit } from './rate-limit.ts';

let ns: TestNamespace;
let redis: Redis;
let prefixes = 0;
/** A limit on keys of its own, so the tests do not share counts; `count` reads the Redis window's count of a key. */
const limit = (points: number, seconds: number, leased = true) => {
  const prefix = `${ns.config.redis.prefix}ratelimit-test-${prefixes++}`;
  const replica = () => new RateLimit(redis, prefix, points, seconds, leased);
  return { replica, count: async (key: string) => Number((await redis.get(`${prefix}:${key}`)) ?? 0) };
};
const granted = (verdicts: { allowed: boolean }[]) => verdicts.filter((v) => v.allowed).length;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  redis = ns.redis();
});

describe('a request limit', () => {
  it('takes a tenth of the limit from Redis at a time and grants the rest of it without a round trip', async () => {
    const { replica, count } = limit(100, 60);
    const gateway = replica();
    const first = await gateway.consume('key');
    expect(first.allowed).toBe(true);
    expect(first.state.remainingPoints).toBe(99);
    expect(await count('key')).toBe(10);
    for (let i = 0; i < 9; i++) expect((await gateway.consume('key')).allowed).toBe(true);
    expect(await count('key')).toBe(10);
    const eleventh = await gateway.consume('key');
    expect(eleventh.state.remainingPoints).toBe(89);
    expect(await count('key')).toBe(20);
  });

  it('takes one lease for requests that arrive together', async () => {
    const { replica, count } = limit(100, 60);
    const gateway = replica();
    // Requests that find a lease being taken wait for it instead of taking one each.
    expect(granted(await Promise.all(Array.from({ length: 35 }, () => gateway.consume('key'))))).toBe(35);
    expect(await count('key')).toBe(40);
  });

  it('grants exactly the limit in a window whatever the replicas, and none past it', async () => {
    const { replica } = limit(100, 60);
    const replicas = [replica(), replica(), replica()];
    const verdicts = await Promise.all(replicas.flatMap((r) => Array.from({ length: 70 }, () => r.consume('key'))));
    expect(granted(verdicts)).toBe(100);
    const refused = verdicts.find((v) => !v.allowed)!;
    expect(refused.state.remainingPoints).toBe(0);
    expect(refused.state.msBeforeNext).toBeGreaterThan(50_000);
  });

  it('remembers a refusal until the window ends without asking Redis again', async () => {
    const { replica, count } = limit(20, 60);
    const gateway = replica();
    for (let i = 0; i < 20; i++) expect((await gateway.consume('key')).allowed).toBe(true);
    // The last lease filled the window: refused without a round trip.
    expect(granted(await Promise.all(Array.from({ length: 10 }, () => gateway.consume('key'))))).toBe(0);
    expect(await count('key')).toBe(20);
    // Another replica asks Redis once, is refused (Redis counts its lease all the same), and then does not ask again.
    const other = replica();
    expect((await other.consume('key')).allowed).toBe(false);
    expect(await count('key')).toBe(22);
    expect((await other.consume('key')).allowed).toBe(false);
    expect(await count('key')).toBe(22);
  });

  it('grants again in the next window', async () => {
    const { replica } = limit(20, 1);
    const gateway = replica();
    while ((await gateway.consume('key')).allowed);
    await waitFor(async () => ((await gateway.consume('key')).allowed ? true : undefined), 5_000, 'the next window');
  });

  it('counts one by one when not leased', async () => {
    const { replica, count } = limit(20, 60, false);
    const gateway = replica();
    expect(granted(await Promise.all(Array.from({ length: 25 }, () => gateway.consume('key'))))).toBe(20);
    expect(await count('key')).toBe(25);
  });
});

describe('the pushes left out of the request counts', () => {
  it('are those of a role that may push, to the push paths only: a viewer key pushing is counted as any request', () => {
    for (const path of ['/api/v1/write', '/v1/metrics']) {
      expect(ROLES.filter((role) => countedByBacklog(path, role)), path).toEqual(['producer', 'operator', 'admin']);
    }
    for (const path of ['/metrics/custom', '/api/v1/write/', '/metrics/names']) expect(countedByBacklog(path, 'producer'), path).toBe(false);
  });
});
