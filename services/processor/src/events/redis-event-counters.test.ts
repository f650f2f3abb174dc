import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { useTestNamespacePerTest, type TestNamespace } from '@terminusa/testkit';
import { ingestPipeline, seriesOf, type IngestLimits, type IngestWork, type Stage } from '../pipeline/index.ts';
import { RedisSeriesIndex } from '../cardinality/redis-series-index.ts';
import { RedisEventCounters } from './redis-event-counters.ts';

const LIMITS: IngestLimits = { maxMessageBytes: 1 << 20, maxSamplesPerMessage: 1000, maxTags: 32, maxTagValueLength: 256, maxFutureMs: 600_000, maxAgeMs: 86_400_000 };
let redis: Redis;
let ns: TestNamespace;
let run: Stage;
let counters: RedisEventCounters;

useTestNamespacePerTest((opened) => {
  ns = opened;
  redis = ns.redis();
  counters = new RedisEventCounters(redis, ns.config.redis.prefix);
  run = ingestPipeline(LIMITS, { series: new RedisSeriesIndex(redis, ns.config.redis.prefix, { maxSeriesPerMetric: 3, maxSeriesTotal: 100 }), counters, onCardinalityRefused: () => undefined });
});

async function deliver(seq: number, body: unknown, subject = 'events.game.match_started', receivedAt = Date.now()): Promise<IngestWork> {
  const work: IngestWork = { subject, raw: new TextEncoder().encode(JSON.stringify(body)), receivedAt, seq, rejections: [] };
  await run(work);
  return work;
}

const TAGS = { map: 'dust', source: 'game', type: 'match_started' };

describe('game events as counters in Redis', () => {
  it('counts 3 events into events_total and sums their values, emitting the current totals', async () => {
    const t = Date.now();
    const works = [await deliver(1, { tags: { map: 'dust' }, value: 2.5, ts: t - 3 }), await deliver(2, { tags: { map: 'dust' }, ts: t - 2 }), await deliver(3, { tags: { map: 'dust' }, value: 1, ts: t - 1 })];
    expect(works.map((w) => w.rejections)).toEqual([[], [], []]);
    expect(works.map((w) => w.samples!.map((s) => s.sample))).toEqual([
      [
        { name: 'events_total', value: 1, ts: t - 3, tags: TAGS },
        { name: 'events_value_total', value: 2.5, ts: t - 3, tags: TAGS },
      ],
      [{ name: 'events_total', value: 2, ts: t - 2, tags: TAGS }],
      [
        { name: 'events_total', value: 3, ts: t - 1, tags: TAGS },
        { name: 'events_value_total', value: 3.5, ts: t - 1, tags: TAGS },
      ],
    ]);
    expect(await redis.hgetall(counters.countersKey)).toEqual({
      'events_total{map="dust",source="game",type="match_started"}': '3',
      'events_value_total{map="dust",source="game",type="match_started"}': '3.5',
    });
  });

  it('does not count a redelivered stream message again, and re-emits the totals it had', async () => {
    const receivedAt = Date.now() - 60_000;
    await deliver(1, { value: 4 }, 'events.game.kill', receivedAt);
    const first = await deliver(2, { value: 6 }, 'events.game.kill', receivedAt + 1);
    const replay = await deliver(2, { value: 6 }, 'events.game.kill', receivedAt + 1);
    expect(replay.samples).toEqual(first.samples);
    expect(replay.samples!.map((s) => s.sample.value)).toEqual([2, 10]);
    expect((await counters.count(2, [{ series: 'events_total{source="game",type="kill"}', kind: 'count', by: 1, ts: 0 }])).totals![0]).toEqual({ total: 2, ts: receivedAt + 1 });
    const next = await deliver(3, {}, 'events.game.kill', receivedAt + 2);
    expect(next.samples!.map((s) => [s.sample.name, s.sample.value])).toEqual([['events_total', 3]]);
    expect(await redis.ttl(`${ns.config.redis.prefix}events:seen:2`)).toBeGreaterThan(86_000);
  });

  it('re-emits on a redelivery what the first delivery emitted, though later events were counted in between', async () => {
    const t = Date.now() - 60_000;
    const first = await deliver(1, { ts: t });
    await deliver(2, { ts: t + 1 });
    const replay = await deliver(1, { ts: t });
    expect(replay.samples!.map((s) => [s.sample.value, s.sample.ts])).toEqual(first.samples!.map((s) => [s.sample.value, s.sample.ts]));
    expect(replay.samples![0]!.sample.value).toBe(1);
  });

  it('never lets a counter go back in time: an event counted after a later one is stamped after it', async () => {
    const t = Date.now() - 60_000;
    const late = await deliver(1, { ts: t + 10, value: 1 });
    const early = await deliver(2, { ts: t, value: 1 });
    expect(late.samples!.map((s) => [s.sample.name, s.sample.value, s.sample.ts])).toEqual([['events_total', 1, t + 10], ['events_value_total', 1, t + 10]]);
    // Stamped at t it would read 2 before 1 at t + 10: a counter reset to PromQL, and phantom increases.
    expect(early.samples!.map((s) => [s.sample.name, s.sample.value, s.sample.ts])).toEqual([['events_total', 2, t + 11], ['events_value_total', 2, t + 11]]);
  });

  it('never stamps a counter past the present: a busy counter shares a millisecond, an event dated ahead is counted now', async () => {
    const now = Date.now();
    const series = 'events_total{source="game",type="kill"}';
    let last = 0;
    for (let seq = 1; seq <= 3000; seq++) last = (await counters.count(seq, [{ series, kind: 'count', by: 1, ts: now }])).totals![0]!.ts;
    // A millisecond an event, the 3000th was stamped about 3 s ahead; stamps wait for the clock instead.
    expect(last).toBeLessThanOrEqual(Date.now());
    const ahead = (await counters.count(3001, [{ series: 'events_total{source="game",type="late"}', kind: 'count', by: 1, ts: Date.now() + 540_000 }])).totals![0]!;
    expect(ahead.ts).toBeLessThanOrEqual(Date.now());
  });

  it('refuses an event whose value would take its sum past a double, counting nothing of it', async () => {
    await deliver(1, { value: 1e308 });
    const refused = await deliver(2, { value: 1e308 });
    expect(refused.refused).toBe(true);
    expect(refused.rejections).toEqual([{ field: 'value', reason: expect.stringMatching(/^the sum events_value_total\{.*\} would leave the range of a double$/) }]);
    // Nothing of it goes on: its increments as samples read as counter resets downstream.
    expect(refused.samples).toEqual([]);
    const totals = await redis.hgetall(counters.countersKey);
    expect(totals['events_total{source="game",type="match_started"}']).toBe('1');
    expect(Number(totals['events_value_total{source="game",type="match_started"}'])).toBe(1e308);
    expect(await redis.exists(`${ns.config.redis.prefix}events:seen:2`)).toBe(0);
  });

  it('keeps counters apart by source, type and tags', async () => {
    await deliver(1, {}, 'events.game.login');
    await deliver(2, {}, 'events.lobby.login');
    const third = await deliver(3, { tags: { region: 'eu' } }, 'events.game.login');
    expect(third.samples!.map((s) => [seriesOf(s), s.sample.value])).toEqual([['events_total{region="eu",source="game",type="login"}', 1]]);
    expect(Object.values(await redis.hgetall(counters.countersKey))).toEqual(['1', '1', '1']);
    // An empty tag value is no tag: the same counter as the event without it, as it is one series in the engine.
    const fourth = await deliver(4, { tags: { region: '' } }, 'events.game.login');
    expect(fourth.samples!.map((s) => [seriesOf(s), s.sample.value])).toEqual([['events_total{source="game",type="login"}', 2]]);
  });

  it('does not count an event whose counter series the cardinality guard refuses', async () => {
    await deliver(1, { tags: { k: '1' } });
    await deliver(2, { tags: { k: '2' } });
    await deliver(3, { tags: { k: '3' } });
    const refused = await deliver(4, { tags: { k: '4' } });
    expect(refused.samples).toEqual([]);
    expect(refused.rejections).toEqual([{ field: '(event)', reason: expect.stringMatching(/^cardinality limit: events_total already has 3 series/) }]);
    expect(await redis.hlen(counters.countersKey)).toBe(3);
    expect(await redis.exists(`${ns.config.redis.prefix}events:seen:4`)).toBe(0);
  });
});
