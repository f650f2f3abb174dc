import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { useTestNamespacePerTest, type TestNamespace } from '@terminusa/testkit';
import { ingestPipeline, seriesOf, type IngestLimits, type IngestWork } from '../pipeline/index.ts';
import { RedisEventCounters } from '../events/redis-event-counters.ts';
import { RedisSeriesIndex } from './redis-series-index.ts';

const LIMITS: IngestLimits = { maxMessageBytes: 1 << 20, maxSamplesPerMessage: 1000, maxTags: 32, maxTagValueLength: 256, maxFutureMs: 600_000, maxAgeMs: 86_400_000 };
let redis: Redis;
let ns: TestNamespace;
let seq = 0;

useTestNamespacePerTest((opened) => {
  ns = opened;
  redis = ns.redis();
});

/** A sample of metric `name` with `tags` (keys in order), as far as the index reads it. */
const of = (name: string, tags: Record<string, string> = {}) => ({ tagsJson: JSON.stringify(tags), sample: { name, tags } });

function setup(maxSeriesPerMetric: number, maxSeriesTotal: number) {
  const refusedMetrics: string[] = [];
  const index = new RedisSeriesIndex(redis, ns.config.redis.prefix, { maxSeriesPerMetric, maxSeriesTotal });
  const run = ingestPipeline(LIMITS, { series: index, counters: new RedisEventCounters(redis, ns.config.redis.prefix), onCardinalityRefused: (m) => refusedMetrics.push(m) });
  const send = async (samples: { name: string; tags?: Record<string, string> }[]): Promise<IngestWork> => {
    const raw = new TextEncoder().encode(JSON.stringify({ samples: samples.map((s) => ({ ...s, value: 1 })) }));
    const work: IngestWork = { subject: 'metrics.ingest.game', raw, receivedAt: Date.now(), seq: ++seq, rejections: [] };
    await run(work);
    return work;
  };
  return { index, send, refusedMetrics };
}

const shards = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ name: 'players_online', tags: { shard: String(from + i) } }));

describe('cardinality guard on Redis', () => {
  it('lets 3 of 5 new series of a metric pass, refuses 2 with the reason, and still passes known series', async () => {
    const { index, send, refusedMetrics } = setup(3, 1000);
    const first = await send([...shards(0, 5), { name: 'other_metric' }]);
    expect(first.samples!.map(seriesOf)).toEqual([
      'players_online{shard="0"}',
      'players_online{shard="1"}',
      'players_online{shard="2"}',
      'other_metric',
    ]);
    expect(first.rejections).toEqual([3, 4].map((i) => ({
      index: i,
      field: `samples[${i}]`,
      reason: `cardinality limit: players_online already has 3 series (ingest.maxSeriesPerMetric); the new series players_online{shard="${i}"} is refused`,
    })));
    expect(refusedMetrics).toEqual(['players_online', 'players_online']);

    const again = await send([...shards(0, 3), ...shards(5, 6), ...shards(0, 1)]);
    expect(again.samples!.map((s) => s.index)).toEqual([0, 1, 2, 4]);
    expect(again.rejections.map((r) => r.field)).toEqual(['samples[3]']);
    expect(await redis.scard(index.metricKey('players_online'))).toBe(3);
    expect(await redis.get(index.totalKey)).toBe('4');
  });

  it('enforces the limit on all series together', async () => {
    const { index, send, refusedMetrics } = setup(100, 4);
    await send([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    const work = await send([{ name: 'd', tags: { k: '1' } }, { name: 'd', tags: { k: '2' } }, { name: 'a' }, { name: 'e' }]);
    expect(work.samples!.map(seriesOf)).toEqual(['d{k="1"}', 'a']);
    expect(work.rejections.map((r) => r.field)).toEqual(['samples[1]', 'samples[3]']);
    expect(work.rejections[0]!.reason).toBe('cardinality limit: 4 series exist in total (ingest.maxSeriesTotal); the new series d{k="2"} is refused');
    expect(refusedMetrics).toEqual(['d', 'e']);
    expect(await redis.get(index.totalKey)).toBe('4');
  });

  it('remembers nothing of the metrics whose every series it refused: a flood of names with ids in them holds no memory', async () => {
    const { index } = setup(100, 1);
    expect((await index.admit([of('kept')])).size).toBe(0);
    const refused = await index.admit(Array.from({ length: 1000 }, (_, i) => of(`req_${i}_ms`)));
    expect(refused.size).toBe(1000);
    // The replica's memory of admitted series (private: what a flood would have filled) holds the one admitted.
    expect([...(index as unknown as { known: Map<string, Set<string>> }).known.keys()]).toEqual(['kept']);
  });

  it('counts a series repeated in one message once', async () => {
    const { index, send } = setup(3, 1000);
    const work = await send([...shards(0, 1), ...shards(0, 1), ...shards(1, 3)]);
    expect(work.rejections).toEqual([]);
    expect(work.samples).toHaveLength(4);
    expect(await redis.get(index.totalKey)).toBe('3');
  });

  it('never lets concurrent replicas together exceed a limit', async () => {
    const replicas = [ns.redis(), ns.redis(), ns.redis()];
    const indexes = replicas.map((r) => new RedisSeriesIndex(r, ns.config.redis.prefix, { maxSeriesPerMetric: 3, maxSeriesTotal: 5 }));
    const results = await Promise.all(
      indexes.map((index, replica) => index.admit(Array.from({ length: 5 }, (_, i) => of('m', { i: String(i), r: String(replica) })))),
    );
    expect(results.reduce((admitted, refused) => admitted + 5 - refused.size, 0)).toBe(3);
    expect(await redis.scard(indexes[0]!.metricKey('m'))).toBe(3);

    const others = await Promise.all(indexes.map((index, replica) => index.admit([of(`n${replica}`)])));
    expect(others.filter((refused) => refused.size === 0)).toHaveLength(2);
    expect(others.flatMap((refused) => [...refused.values()])).toEqual([{ limit: 'maxSeriesTotal', max: 5 }]);
    expect(await redis.get(indexes[0]!.totalKey)).toBe('5');
  });

  it('answers each of many calls at once with its own refusals, the limit held across all of them', async () => {
    const index = new RedisSeriesIndex(redis, ns.config.redis.prefix, { maxSeriesPerMetric: 30, maxSeriesTotal: 1000 });
    // Twenty messages at once, five new series each, and a series every one of them repeats.
    const calls = Array.from({ length: 20 }, (_, c) => [...Array.from({ length: 5 }, (_, i) => of('m', { c: String(c), i: String(i) })), of('m', { shared: '1' })]);
    const results = await Promise.all(calls.map((series) => index.admit(series)));
    results.forEach((refused, c) => {
      for (const key of refused.keys()) expect(calls[c]!.map(seriesOf)).toContain(key);
    });
    const admitted = new Set(calls.flatMap((series, c) => series.map(seriesOf).filter((key) => !results[c]!.has(key))));
    expect(admitted.size).toBe(30);
    expect(new Set(await redis.smembers(index.metricKey('m')))).toEqual(admitted);
    expect(await redis.get(index.totalKey)).toBe('30');
    // What was refused stays refused, and an admitted series passes.
    expect((await index.admit([of('m', { c: '19', i: '4' })])).size).toBe(admitted.has('m{c="19",i="4"}') ? 0 : 1);
  });

  it('remembers admitted series, so a known series costs no round trip to Redis', async () => {
    const { index, send } = setup(3, 1000);
    await send(shards(0, 3));
    // Without a round trip nothing is written: after the keys are gone, known series still pass and stay unwritten.
    await redis.del(index.metricKey('players_online'), index.totalKey);
    const again = await send(shards(0, 3));
    expect(again.rejections).toEqual([]);
    expect(await redis.scard(index.metricKey('players_online'))).toBe(0);
    // A series it has not seen goes to Redis as before.
    await send(shards(3, 4));
    expect(await redis.smembers(index.metricKey('players_online'))).toEqual(['players_online{shard="3"}']);
  });
});
