import { describe, expect, it } from 'vitest';
import type { DiscoveredInstance } from '@terminusa/runtime';
import { LiveInstances, SEEN_FOR_MS } from './live-instances.ts';

const instance = (service: string, id: string, requests = 0): DiscoveredInstance => ({
  service, id, instance: `${service}-${id}`, host: 'h', address: 'h', opsPort: 9464, version: '1', started: '', endpoints: [{ name: 'e', requests, errors: 0, averageProcessingMs: 0 }],
});

describe('live instances', () => {
  it('keep an instance that missed a round of discovery for SEEN_FOR_MS, as it answered last, then drop it', async () => {
    const rounds = [[instance('storage', 'a', 1), instance('processor', 'b')], [instance('processor', 'b')], [instance('processor', 'b')], [instance('storage', 'a', 2)]];
    let now = 0;
    let round = 0;
    const live = new LiveInstances(async () => rounds[round++]!, () => now);
    expect((await live.list()).map((i) => i.instance)).toEqual(['processor-b', 'storage-a']);
    now = SEEN_FOR_MS;
    expect((await live.list()).map((i) => [i.instance, i.endpoints[0]!.requests])).toEqual([['processor-b', 0], ['storage-a', 1]]);
    now = SEEN_FOR_MS + 1;
    expect((await live.list()).map((i) => i.instance)).toEqual(['processor-b']);
    expect((await live.list()).map((i) => [i.instance, i.endpoints[0]!.requests])).toEqual([['processor-b', 0], ['storage-a', 2]]);
  });

  it('answer with what was seen when discovery fails', async () => {
    let fail = false;
    const live = new LiveInstances(async () => {
      if (fail) throw new Error('NATS away');
      return [instance('collector', 'c')];
    });
    expect(await live.list()).toHaveLength(1);
    fail = true;
    expect((await live.list()).map((i) => i.instance)).toEqual(['collector-c']);
  });
});
