import { describe, expect, it } from 'vitest';
import { encodeSampleBatch, isStaleMarker, type Sample } from '@terminusa/bus';
import { validateMessage, type IngestLimits, type IngestWork } from './index.ts';
import { sampleField, seriesOf } from './stage.ts';

const RECEIVED_AT = 1_764_115_200_000;
const MINUTE = 60_000;
const DAY = 86_400_000;
const LIMITS: IngestLimits = { maxMessageBytes: 4096, maxSamplesPerMessage: 3, maxTags: 3, maxTagValueLength: 16, maxFutureMs: 10 * MINUTE, maxAgeMs: DAY };
const run = validateMessage(LIMITS);

async function process(body: unknown, subject = 'metrics.ingest.game'): Promise<IngestWork> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const work: IngestWork = { subject, raw: new TextEncoder().encode(raw), receivedAt: RECEIVED_AT, seq: 1, rejections: [] };
  await run(work);
  return work;
}

const samplesOf = (work: IngestWork) => work.samples?.map((s) => s.sample);

/** Runs a body in the packed form the gateway and the rules publish (persist-samples.ts). */
async function processPacked(samples: Sample[] | Uint8Array, limits = LIMITS): Promise<IngestWork> {
  const raw = samples instanceof Uint8Array ? samples : encodeSampleBatch({ parts: [{ id: 'req:0', source: 'game', samples }] });
  const work: IngestWork = { subject: 'metrics.ingest.game', raw, receivedAt: RECEIVED_AT, seq: 1, rejections: [] };
  await validateMessage(limits)(work);
  return work;
}

describe('metric messages', () => {
  it('normalizes a good message: default ts is the receipt time, tags sorted, missing tags empty, series keyed', async () => {
    const work = await process({ samples: [{ name: 'players_online', value: 1234, ts: 1764115200123, tags: { shard: '7', region: 'eu' } }, { name: 'queue_depth', value: 3 }] });
    expect(work.rejections).toEqual([]);
    expect(work.source).toBe('game');
    expect(samplesOf(work)).toEqual([
      { name: 'players_online', value: 1234, ts: 1764115200123, tags: { region: 'eu', shard: '7' } },
      { name: 'queue_depth', value: 3, ts: RECEIVED_AT, tags: {} },
    ]);
    expect(Object.keys(work.samples![0]!.sample.tags)).toEqual(['region', 'shard']);
    expect(work.samples!.map((s) => [sampleField(s), seriesOf(s), s.tagsJson])).toEqual([
      ['samples[0]', 'players_online{region="eu",shard="7"}', '{"region":"eu","shard":"7"}'],
      ['samples[1]', 'queue_depth', '{}'],
    ]);
  });

  it('leaves out a tag whose value is empty, as its absence (the engine keeps no empty label), in JSON and packed bodies alike', async () => {
    const samples: Sample[] = [
      { name: 'cpu', value: 1, ts: RECEIVED_AT, tags: { host: '', zone: 'a' } },
      { name: 'cpu', value: 2, ts: RECEIVED_AT, tags: { host: '' } },
    ];
    for (const work of [await process({ samples }), await processPacked(samples)]) {
      expect(work.rejections).toEqual([]);
      expect(work.samples!.map((s) => [s.sample.tags, seriesOf(s), s.tagsJson])).toEqual([
        [{ zone: 'a' }, 'cpu{zone="a"}', '{"zone":"a"}'],
        [{}, 'cpu', '{}'],
      ]);
    }
  });

  it('refuses a __proto__ tag key by name in samples and events, keeping the good samples (a record left it out without a word)', async () => {
    const work = await process('{"samples":[{"name":"cpu","value":1,"tags":{"__proto__":"a"}},{"name":"cpu","value":2}]}');
    expect(work.rejections).toEqual([{ index: 0, field: 'samples[0].tags.__proto__', reason: expect.any(String) }]);
    expect(samplesOf(work)).toEqual([{ name: 'cpu', value: 2, ts: RECEIVED_AT, tags: {} }]);
    const event = await process('{"tags":{"__proto__":"a"}}', 'events.game.kill');
    expect(event.refused).toBe(true);
    expect(event.rejections).toEqual([{ field: 'tags.__proto__', reason: expect.any(String) }]);
  });

  it('rejects bad samples with their field and keeps the good ones beside them', async () => {
    const work = await process({ samples: [{ name: 'ok_metric', value: 1 }, { name: '1bad', value: 1 }, { name: 'x', value: 'NaN' }] });
    expect(work.refused).toBeUndefined();
    expect(samplesOf(work)!.map((s) => s.name)).toEqual(['ok_metric']);
    expect(work.rejections.map((r) => [r.index, r.field])).toEqual([
      [1, 'samples[1].name'],
      [2, 'samples[2].value'],
    ]);
  });

  it.each([
    ['NUL (PostgreSQL cannot store it)', 'a', 'a\u0000b', /NUL/],
    ['a lone surrogate (Redis cannot decode it)', 'a\ud83d\ude00', 'a\ud800b', /lone surrogate/],
  ])('refuses a tag value holding %s by its field, in JSON and packed bodies alike', async (_case, good, bad, reason) => {
    const samples = [
      { name: 'ok_metric', value: 1, ts: RECEIVED_AT, tags: { zone: good } },
      { name: 'ok_metric', value: 2, ts: RECEIVED_AT, tags: { zone: bad } },
    ];
    for (const work of [await process({ samples }), await processPacked(samples)]) {
      expect(samplesOf(work)!.map((s) => s.value)).toEqual([1]);
      expect(work.rejections).toEqual([{ index: 1, field: 'samples[1].tags.zone', reason: expect.stringMatching(reason) }]);
    }
  });

  it.each([
    ['malformed JSON', '{"samples": [', '(message)', /malformed JSON/],
    ['missing samples', { metrics: [] }, '(message)', /samples|Unrecognized/],
    ['samples of the wrong type', { samples: 'many' }, 'samples', /expected array/],
    ['empty samples', { samples: [] }, 'samples', /at least one/],
    ['too many samples', { samples: [1, 2, 3, 4].map((v) => ({ name: 'a', value: v })) }, 'samples', /exceed the limit of 3/],
    ['an oversized message', { samples: [{ name: 'a', value: 1, tags: { pad: 'x'.repeat(5000) } }] }, '(message)', /exceeds the limit of 4096/],
  ])('refuses %s as a whole with its reason', async (_case, body, field, reason) => {
    const work = await process(body);
    expect(work.refused).toBe(true);
    expect(work.samples).toBeUndefined();
    expect(work.rejections.some((r) => r.field === field || r.field.startsWith(field))).toBe(true);
    expect(work.rejections.map((r) => r.reason).join(' ')).toMatch(reason);
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('rejects a %s value (JSON has no such number, so it arrives as null)', async (_case, value) => {
    const work = await process({ samples: [{ name: 'a', value }] });
    expect(work.rejections[0]).toMatchObject({ index: 0, field: 'samples[0].value' });
  });

  it('takes a staleness marker (stale: true, no value) as a sample whose value is the marker', async () => {
    const work = await process({ samples: [{ name: 'players_online', stale: true, ts: RECEIVED_AT - 1, tags: { shard: '7' } }] });
    expect(work.rejections).toEqual([]);
    expect(samplesOf(work)).toEqual([{ name: 'players_online', value: Number.NaN, ts: RECEIVED_AT - 1, tags: { shard: '7' } }]);
    expect(isStaleMarker(samplesOf(work)![0]!)).toBe(true);
  });

  it.each([
    ['a value beside stale: true', { name: 'a', value: 1, stale: true }, /staleness marker .* has no value/],
    ['neither a value nor stale: true', { name: 'a' }, /must be a finite number/],
    ['stale: false', { name: 'a', value: 1, stale: false }, /must be true/],
  ])('rejects %s', async (_case, sample, reason) => {
    const work = await process({ samples: [{ name: 'ok', value: 1 }, sample] });
    expect(samplesOf(work)!.map((s) => s.name)).toEqual(['ok']);
    expect(work.rejections).toHaveLength(1);
    expect(work.rejections[0]).toMatchObject({ index: 1, field: expect.stringMatching(/^samples\[1\]\.(value|stale)$/) });
    expect(work.rejections[0]!.reason).toMatch(reason);
  });

  it('rejects wrong types field by field', async () => {
    const work = await process({ samples: [{ name: 'a', value: 1, ts: 'yesterday' }, { name: 'b', value: 1, tags: { 'bad-key': 'v' } }, { name: 'c', value: 2, tags: { k: 5 } }] });
    expect(work.rejections.map((r) => r.field)).toEqual(['samples[0].ts', 'samples[1].tags.bad-key', 'samples[2].tags.k']);
    expect(work.samples).toEqual([]);
  });

  it.each([
    ['an unknown field', { name: 'a', value: 1, unit: 's' }, 'samples[0]', /unrecognized key/i],
    ['a name over 200 characters', { name: 'a'.repeat(201), value: 1 }, 'samples[0].name', /at most 200/],
    ['a fractional timestamp', { name: 'a', value: 1, ts: 1.5 }, 'samples[0].ts', /integer/],
    ['a negative timestamp', { name: 'a', value: 1, ts: -5 }, 'samples[0].ts', /epoch milliseconds/],
    ['more tags than ingest.maxTags', { name: 'a', value: 1, tags: { a: '1', b: '2', c: '3', d: '4' } }, 'samples[0].tags', /at most 3 tags/],
    ['a tag named as the sample\'s name would be (reserved __ prefix)', { name: 'a', value: 1, tags: { __name__: 'other' } }, 'samples[0].tags.__name__', /not begin with __ and not be tmon_ns/],
    ['a tag named as the engine\'s namespace label', { name: 'a', value: 1, tags: { tmon_ns: 'x' } }, 'samples[0].tags.tmon_ns', /not be tmon_ns/],
    ['a tag value longer than ingest.maxTagValueLength', { name: 'a', value: 1, tags: { k: 'x'.repeat(17) } }, 'samples[0].tags.k', /at most 16 characters/],
    ['a tag key longer than 128 characters', { name: 'a', value: 1, tags: { ['k'.repeat(129)]: 'v' } }, `samples[0].tags.${'k'.repeat(129)}`, /^tag keys are at most 128 characters$/],
    ['a timestamp too far ahead of receipt', { name: 'a', value: 1, ts: RECEIVED_AT + 10 * MINUTE + 1 }, 'samples[0].ts', /too far in the future: .* the limit is 600000 ms \(ingest\.maxFutureMs\)/],
    ['a timestamp older than the raw retention', { name: 'a', value: 1, ts: RECEIVED_AT - DAY - 1 }, 'samples[0].ts', /too old: .*raw retention keeps 86400000 ms \(storage\.retention\.raw\)/],
    ['an absurd timestamp', { name: 'a', value: 1, ts: 9e15 }, 'samples[0].ts', /too far in the future: 9000000000000000 is/],
  ])('rejects %s, naming the field and why', async (_case, sample, field, reason) => {
    const work = await process({ samples: [{ name: 'good', value: 1 }, sample] });
    const expectedField = field.replace('samples[0]', 'samples[1]');
    expect(work.refused).toBeUndefined();
    expect(work.rejections).toHaveLength(1);
    expect(work.rejections[0]).toMatchObject({ index: 1, field: expectedField });
    expect(work.rejections[0]!.reason).toMatch(reason);
    expect(samplesOf(work)!.map((s) => s.name)).toEqual(['good']);
  });

  it('takes the tag limits from the configuration rather than the bus defaults', async () => {
    const tags = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`t${i}`, 'v'.repeat(300)]));
    const work: IngestWork = { subject: 'metrics.ingest.game', raw: new TextEncoder().encode(JSON.stringify({ samples: [{ name: 'a', value: 1, tags }] })), receivedAt: RECEIVED_AT, seq: 1, rejections: [] };
    await validateMessage({ ...LIMITS, maxMessageBytes: 1 << 20, maxTags: 40, maxTagValueLength: 300 })(work);
    expect(work.rejections).toEqual([]);
    expect(work.samples).toHaveLength(1);
  });

  it('accepts timestamps at the edges of the window', async () => {
    const work = await process({ samples: [{ name: 'a', value: 1, ts: RECEIVED_AT + 10 * MINUTE }, { name: 'a', value: 2, ts: RECEIVED_AT - DAY }] });
    expect(work.rejections).toEqual([]);
    expect(work.samples).toHaveLength(2);
  });

  it.each(['metrics.ingest', 'metrics.ingest.a.b', 'metrics.other.x', 'metrics.ingest.bad!'])('refuses the unknown subject %s', async (subject) => {
    const work = await process({ samples: [{ name: 'a', value: 1 }] }, subject);
    expect(work.refused).toBe(true);
    expect(work.rejections[0]).toMatchObject({ field: 'subject' });
    expect(work.rejections[0]!.reason).toContain('unknown subject');
  });
});

describe('packed metric messages', () => {
  it('reads a packed body as its JSON would be read: tags sorted, their JSON noted, NaN a staleness marker', async () => {
    const work = await processPacked([
      { name: 'players_online', value: 1234, ts: RECEIVED_AT - 1, tags: { region: 'eu', shard: '7' } },
      { name: 'queue_depth', value: 3, ts: RECEIVED_AT, tags: { shard: '7', region: 'eu' } },
      { name: 'players_online', value: Number.NaN, ts: RECEIVED_AT, tags: {} },
    ]);
    expect(work.rejections).toEqual([]);
    expect(work.source).toBe('game');
    expect(samplesOf(work)).toEqual([
      { name: 'players_online', value: 1234, ts: RECEIVED_AT - 1, tags: { region: 'eu', shard: '7' } },
      { name: 'queue_depth', value: 3, ts: RECEIVED_AT, tags: { region: 'eu', shard: '7' } },
      { name: 'players_online', value: Number.NaN, ts: RECEIVED_AT, tags: {} },
    ]);
    expect(Object.keys(work.samples![1]!.sample.tags)).toEqual(['region', 'shard']);
    expect(work.samples!.map((s) => s.tagsJson)).toEqual(['{"region":"eu","shard":"7"}', '{"region":"eu","shard":"7"}', '{}']);
    expect(isStaleMarker(samplesOf(work)![2]!)).toBe(true);
  });

  it('checks every sample as a JSON body\'s, refusing the bad ones by field and keeping the good', async () => {
    const work = await processPacked([
      { name: 'good', value: 1, ts: RECEIVED_AT, tags: {} },
      { name: 'a', value: 1, ts: RECEIVED_AT, tags: { a: '1', b: '2', c: '3', d: '4' } },
      { name: 'a'.repeat(201), value: 1, ts: RECEIVED_AT, tags: {} },
    ]);
    expect(work.refused).toBeUndefined();
    expect(samplesOf(work)!.map((s) => s.name)).toEqual(['good']);
    expect(work.rejections.map((r) => [r.field, r.reason])).toEqual([
      ['samples[1].tags', expect.stringMatching(/at most 3 tags/)],
      ['samples[2].name', expect.stringMatching(/at most 200/)],
    ]);
    const old = await processPacked([{ name: 'a', value: 1, ts: RECEIVED_AT - DAY - 1, tags: {} }, { name: 'b', value: 1, ts: RECEIVED_AT, tags: {} }]);
    expect(old.rejections.map((r) => r.field)).toEqual(['samples[0].ts']);
    expect(samplesOf(old)!.map((s) => s.name)).toEqual(['b']);
  });

  it.each([
    ['a body cut short', () => encodeSampleBatch({ parts: [{ id: 'r', source: 'game', samples: [{ name: 'a', value: 1, ts: RECEIVED_AT, tags: {} }] }] }).subarray(0, 30), /malformed packed body: body ends early/],
    ['an infinite value', () => encodeSampleBatch({ parts: [{ id: 'r', source: 'game', samples: [{ name: 'a', value: Number.POSITIVE_INFINITY, ts: RECEIVED_AT, tags: {} }] }] }), /malformed packed body: not a finite number/],
    ['too many samples', () => encodeSampleBatch({ parts: [{ id: 'r', source: 'game', samples: [1, 2, 3, 4].map((value) => ({ name: 'a', value, ts: RECEIVED_AT, tags: {} })) }] }), /exceed the limit of 3/],
    ['an oversized body', () => encodeSampleBatch({ parts: [{ id: 'r', source: 'game', samples: [{ name: 'a', value: 1, ts: RECEIVED_AT, tags: { pad: 'x'.repeat(5000) } }] }] }), /exceeds the limit of 4096/],
  ])('refuses %s as a whole with its reason', async (_case, body, reason) => {
    const work = await processPacked(body());
    expect(work.refused).toBe(true);
    expect(work.samples).toBeUndefined();
    expect(work.rejections.map((r) => r.reason).join(' ')).toMatch(reason);
  });
});

describe('game events', () => {
  it('turns an event into the increments of events_total and events_value_total, tagged with source, type and its tags', async () => {
    const work = await process({ ts: RECEIVED_AT - 5000, value: 2.5, tags: { map: 'dust', mode: 'ranked' }, extra: 'kept loose' }, 'events.game.match_started');
    expect(work.rejections).toEqual([]);
    expect(work.source).toBe('game');
    const tags = { map: 'dust', mode: 'ranked', source: 'game', type: 'match_started' };
    expect(samplesOf(work)).toEqual([
      { name: 'events_total', value: 1, ts: RECEIVED_AT - 5000, tags },
      { name: 'events_value_total', value: 2.5, ts: RECEIVED_AT - 5000, tags },
    ]);
    expect(Object.keys(work.samples![0]!.sample.tags)).toEqual(['map', 'mode', 'source', 'type']);
    expect(seriesOf(work.samples![0]!)).toBe('events_total{map="dust",mode="ranked",source="game",type="match_started"}');
    expect(work.samples![0]!.tagsJson).toBe(JSON.stringify(tags));
  });

  it('counts an event without value or ts at the receipt time, with events_total only', async () => {
    const work = await process({}, 'events.game.login');
    expect(samplesOf(work)).toEqual([{ name: 'events_total', value: 1, ts: RECEIVED_AT, tags: { source: 'game', type: 'login' } }]);
  });

  it.each([
    ['a subject without type', 'events.game', 'subject', /unknown subject events\.game: publish to events\.<source>\.<type>/],
    ['a subject with too many tokens', 'events.game.match.started', 'subject', /unknown subject/],
    ['a source that is not a token', 'events.ga!me.login', 'subject', /unknown subject/],
    ['a type longer than 64 characters', `events.game.${'t'.repeat(65)}`, 'subject', /unknown subject/],
  ])('refuses %s', async (_case, subject, field, reason) => {
    const work = await process({ value: 1 }, subject);
    expect(work.refused).toBe(true);
    expect(work.rejections[0]).toMatchObject({ field });
    expect(work.rejections[0]!.reason).toMatch(reason);
  });

  it.each([
    ['malformed JSON', '{"value": ', '(message)', /malformed JSON/],
    ['a body that is not an object', [1, 2], '(message)', /expected object/],
    ['a value of the wrong type', { value: 'high' }, 'value', /expected number/],
    ['a value that is not finite', '{"value": 1e999}', 'value', /Infinity|finite/],
    ['a ts of the wrong type', { ts: 'yesterday' }, 'ts', /expected number/],
    ['tags of the wrong type', { tags: { k: 5 } }, 'tags.k', /expected string/],
    ['too many tags', { tags: { a: '1', b: '2', c: '3', d: '4' } }, 'tags', /at most 3 tags/],
    ['a tag value that is too long', { tags: { k: 'x'.repeat(17) } }, 'tags.k', /at most 16 characters/],
    ['a tag named source', { tags: { source: 'other' } }, 'tags.source', /taken from the subject/],
    ['a tag named type', { tags: { type: 'other' } }, 'tags.type', /taken from the subject/],
    ['a ts too far ahead', { ts: RECEIVED_AT + 11 * MINUTE }, 'ts', /too far in the future/],
    ['a ts older than the raw retention', { ts: RECEIVED_AT - 2 * DAY }, 'ts', /too old/],
    ['an oversized event', { tags: { pad: 'x'.repeat(5000) } }, '(message)', /exceeds the limit of 4096/],
  ])('refuses an event with %s, naming the field and why', async (_case, body, field, reason) => {
    const work = await process(body, 'events.game.match_started');
    expect(work.refused).toBe(true);
    expect(work.samples).toBeUndefined();
    expect(work.rejections[0]).toMatchObject({ field });
    expect(work.rejections[0]!.reason).toMatch(reason);
  });
});

describe('routing', () => {
  it.each(['events', 'other.game', 'metrics.samples'])('refuses the subject %s that is neither metrics nor events', async (subject) => {
    const work = await process({ samples: [{ name: 'a', value: 1 }] }, subject);
    expect(work.refused).toBe(true);
    expect(work.rejections).toEqual([{ field: 'subject', reason: `unknown subject ${subject}: publish to metrics.ingest.<source> or events.<source>.<type>` }]);
  });
});
