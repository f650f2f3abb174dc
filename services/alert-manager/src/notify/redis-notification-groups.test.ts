import { describe, expect, it } from 'vitest';
import { type Redis } from 'ioredis';
import { alertKeys, type Alert } from '@terminusa/alerting';
import { useTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';
import { RedisNotificationGroups } from './redis-notification-groups.ts';

let ns: TestNamespace;
let redis: Redis;
let replica: Redis;
let cases = 0;

// Two clients, as two replicas of the alert-manager have.
useTestNamespace((opened) => {
  ns = opened;
  redis = ns.redis();
  replica = ns.redis();
});

const T0 = Date.UTC(2026, 5, 1, 12);
const member = (id: string) => ({ alert: { id, rule: 'Hot', severity: 'warning', state: 'firing', labels: {}, value: 1, summary: '', message: '', startsAt: 0, channels: ['webhook'] } satisfies Alert, channels: ['webhook' as const] });
/** Notification groups under a key prefix of the test's own inside the namespace. */
const keysOfCase = () => alertKeys(`${ns.config.redis.prefix}case${++cases}:`);

describe('the join-group script', () => {
  it('opens a group with the first member and adds the next ones to it while it is open', async () => {
    const keys = keysOfCase();
    const groups = new RedisNotificationGroups(redis, keys);
    const first = await groups.join('g', member('a1'), T0, 60_000, 'a1:1');
    const second = await groups.join('g', member('a2'), T0 + 500, 60_000, 'a2:1');
    // Replayed: the same member again.
    await groups.join('g', member('a2'), T0 + 600, 60_000, 'a2:1');
    expect(first).toEqual({ opened: T0, setKey: `${keys.groupSet('g')}:${T0}`, openKey: keys.groupOpen('g') });
    expect(second).toEqual(first);
    expect(await redis.pttl(keys.groupOpen('g'))).toBeGreaterThan(59_000);
    expect((await groups.take({ setKey: first.setKey })).map((m) => m.alert.id).sort()).toEqual(['a1', 'a2']);
    // The members wait for their flush as long as the flush job and the join records are kept, a day: every replica
    // down for over an hour found them gone, and sent no one their firings and resolutions.
    expect(await redis.pttl(first.setKey)).toBeGreaterThan(86_390_000);

    await groups.remove(first.setKey);
    expect(await groups.take(first)).toEqual([]);
  });

  it('opens the next group once the open one closed', async () => {
    const keys = keysOfCase();
    const groups = new RedisNotificationGroups(redis, keys);
    const first = await groups.join('g', member('a1'), T0, 30, 'a1:1');
    await waitFor(async () => ((await redis.exists(keys.groupOpen('g'))) === 0 ? true : undefined), 5000, 'the group closed');
    const next = await groups.join('g', member('a2'), T0 + 1000, 30, 'a2:1');
    expect(next).toEqual({ opened: T0 + 1000, setKey: `${keys.groupSet('g')}:${T0 + 1000}`, openKey: keys.groupOpen('g') });
    expect((await groups.take(first)).map((m) => m.alert.id)).toEqual(['a1']);
    expect((await groups.take(next)).map((m) => m.alert.id)).toEqual(['a2']);
  });

  it('gives a replayed event the group it joined the first time, even after that group closed', async () => {
    const keys = keysOfCase();
    const groups = new RedisNotificationGroups(redis, keys);
    const first = await groups.join('g', member('a1'), T0, 30, 'a1:7');
    await waitFor(async () => ((await redis.exists(keys.groupOpen('g'))) === 0 ? true : undefined), 5000, 'the group closed');
    await groups.remove(first.setKey);
    // The replica that handled it died before acknowledging it: the event comes again, after the flush.
    expect(await groups.join('g', member('a1'), T0 + 4000, 30, 'a1:7')).toEqual(first);
    expect(await redis.exists(keys.groupOpen('g'))).toBe(0);
    expect(await groups.take(first)).toEqual([]);
    // The alert's next event is news: it opens a new group.
    expect((await groups.join('g', member('a1'), T0 + 5000, 30, 'a1:8')).opened).toBe(T0 + 5000);
  });

  it('puts members that two replicas add at once into one group', async () => {
    const keys = keysOfCase();
    const [a, b] = [new RedisNotificationGroups(redis, keys), new RedisNotificationGroups(replica, keys)];
    const joined = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).join('g', member(`a${i}`), T0 + i, 60_000, `a${i}:1`)));
    expect(new Set(joined.map((j) => j.setKey)).size).toBe(1);
    expect(await a.take(joined[0]!)).toHaveLength(40);
  });

  it('closes the group when its members are taken, so an alert coming after opens the next one instead of being lost', async () => {
    const keys = keysOfCase();
    const groups = new RedisNotificationGroups(redis, keys);
    // Open far longer than its flush waits: as on a worker whose clock runs ahead of Redis'.
    const first = await groups.join('g', member('a1'), T0, 60_000, 'a1:1');
    expect((await groups.take(first)).map((m) => m.alert.id)).toEqual(['a1']);
    await groups.remove(first.setKey);
    const late = await groups.join('g', member('a2'), T0 + 500, 60_000, 'a2:1');
    expect(late.opened).toBe(T0 + 500);
    expect((await groups.take(late)).map((m) => m.alert.id)).toEqual(['a2']);
    // Taking a group that is no longer the open one leaves the open one be.
    const third = await groups.join('g', member('a3'), T0 + 900, 60_000, 'a3:1');
    await groups.take(first);
    expect((await groups.join('g', member('a4'), T0 + 950, 60_000, 'a4:1')).opened).toBe(third.opened);
  });
});
