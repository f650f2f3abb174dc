import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { useTestNamespace, type TestNamespace } from '@terminusa/testkit';
import { WrittenSeries } from './written-series.ts';

let ns: TestNamespace;
let redis: Redis;

useTestNamespace((opened) => {
  ns = opened;
  redis = ns.redis();
});

describe('WrittenSeries', () => {
  it('marks each series of the last round that this round lacks, once, whichever replica writes the round', async () => {
    const key = `${ns.config.redis.prefix}written:test`;
    const [replicaA, replicaB] = [new WrittenSeries(redis, key, 6_000), new WrittenSeries(ns.redis(), key, 6_000)];
    const round1 = [
      { name: 'disk_used', value: 1, tags: { host: 'h', mount: '/' } },
      { name: 'disk_used', value: 2, tags: { mount: '/data', host: 'h' } },
      { name: 'up', value: 1 },
    ];
    // Nothing is known before the first round: nothing to mark.
    expect(await replicaA.markersFor(round1, 1000)).toEqual([]);
    await replicaA.remember(round1);

    // Tag order does not make a series new; /data is gone.
    const round2 = [{ name: 'disk_used', value: 3, tags: { mount: '/', host: 'h' } }, { name: 'up', value: 1 }];
    const markers = await replicaB.markersFor(round2, 2000);
    expect(markers).toEqual([{ name: 'disk_used', stale: true, ts: 2000, tags: { host: 'h', mount: '/data' } }]);
    await replicaB.remember([...round2, ...markers]);

    expect(await replicaA.markersFor(round2, 3000)).toEqual([]);
    expect(await redis.pttl(key)).toBeGreaterThan(0);
  });
});
