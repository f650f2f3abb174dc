import { beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { addressKey, LoginGuard, type Refusal, type Reservation } from './login-guard.ts';

let ns: TestNamespace;
let redis: Redis;
let prefixes = 0;
/** A guard on keys of its own, so the tests do not share counts. */
const guard = (maxAttempts = 5, maxAttemptsPerAddress = 20, lockoutSeconds = 900) => new LoginGuard(redis, `${ns.config.redis.prefix}${prefixes++}:`, { maxAttempts, maxAttemptsPerAddress, lockoutSeconds });
const reserved = (r: Reservation | Refusal): Reservation => {
  expect(r.allowed).toBe(true);
  return r as Reservation;
};

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  redis = ns.redis();
});

describe('the login guard', () => {
  it('lets at most maxAttempts of 50 simultaneous attempts for one user from one address through', async () => {
    const g = guard();
    const answers = await Promise.all(Array.from({ length: 50 }, () => g.reserve('admin', '198.51.100.1')));
    expect(answers.filter((a) => a.allowed)).toHaveLength(5);
    expect(answers.filter((a) => a.allowed && a.last)).toHaveLength(1);
    const refusal = answers.find((a): a is Refusal => !a.allowed)!;
    expect(refusal.scope).toBe('user-address');
    expect(refusal.retryAfter).toBeGreaterThan(890);
    // The same user from elsewhere, and other users from here, are not locked.
    expect((await g.reserve('admin', '198.51.100.2')).allowed).toBe(true);
    expect((await g.reserve('someone-else', '198.51.100.1')).allowed).toBe(true);
  });

  it('refuses an address that failed for many users, for every user', async () => {
    const g = guard(5, 8);
    for (let i = 0; i < 8; i++) reserved(await g.reserve(`user-${i}`, '198.51.100.3'));
    const refused = await g.reserve('never-tried', '198.51.100.3');
    expect(refused).toMatchObject({ allowed: false, scope: 'address' });
    expect((await g.reserve('never-tried', '198.51.100.4')).allowed).toBe(true);
  });

  it('clears the pair on success but gives back only that attempt of the address, and all of an abandoned one', async () => {
    const g = guard(3, 5);
    const [pairKey, addressCount] = g.keys('alice', '198.51.100.5');
    for (let i = 0; i < 2; i++) reserved(await g.reserve('alice', '198.51.100.5'));
    await g.succeeded(reserved(await g.reserve('alice', '198.51.100.5')));
    expect(await redis.get(pairKey)).toBeNull();
    expect(await redis.get(addressCount)).toBe('2');
    await g.abandoned(reserved(await g.reserve('alice', '198.51.100.5')));
    expect(await redis.get(pairKey)).toBe('0');
    expect(await redis.get(addressCount)).toBe('2');
  });

  it('ends a lock-out after the lock-out time', async () => {
    const g = guard(2, 20, 1);
    reserved(await g.reserve('bob', '198.51.100.6'));
    expect(reserved(await g.reserve('bob', '198.51.100.6')).last).toBe(true);
    expect(await g.reserve('bob', '198.51.100.6')).toMatchObject({ allowed: false, retryAfter: 1 });
    await waitFor(async () => ((await g.reserve('bob', '198.51.100.6')).allowed ? true : undefined), 5000, 'the lock-out to end');
  });

  it('hashes usernames for logs with a salt shared by every guard on the same Redis', async () => {
    const prefix = `${ns.config.redis.prefix}salt:`;
    const limits = { maxAttempts: 5, maxAttemptsPerAddress: 20, lockoutSeconds: 900 };
    const [a, b] = [new LoginGuard(redis, prefix, limits), new LoginGuard(redis, prefix, limits)];
    const digest = await a.digest('my secret password typed as a name');
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    expect(await b.digest('my secret password typed as a name')).toBe(digest);
    expect(await guard().digest('my secret password typed as a name')).not.toBe(digest);
    expect(a.keys('my secret password typed as a name', '198.51.100.7').join(' ')).not.toContain('secret');
  });

  it('counts an IPv6 client as its /64 and an IPv4-mapped one as its IPv4 address', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('')).toBe('');
  });
});
