import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeSampleBatch, encodeSampleBatch, isPackedSampleBatch, isStaleMarker, STALE_MARKER, SampleBatchFormatError, SampleBatchSchema, sampleBatchBodies, sampleNameMarker, TAGS_JSON, type Sample, type SampleBatch, type SamplePart } from './index.ts';

const validName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,20}$/);
const validSample = fc.record({
  name: validName,
  value: fc.double({ noNaN: true, noDefaultInfinity: true }),
  ts: fc.integer({ min: -(2 ** 40), max: 2 ** 45 }),
  tags: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
});
const validPart = fc.record({ id: fc.string({ minLength: 1, maxLength: 10 }), source: fc.stringMatching(/^[A-Za-z0-9_-]{1,10}$/), samples: fc.array(validSample, { maxLength: 4 }) });
const validBatch = fc.record({ parts: fc.array(validPart, { minLength: 1, maxLength: 3 }) });

/** What decoding throws, or undefined when it decodes. */
function refusal(body: Uint8Array): SampleBatchFormatError | undefined {
  try {
    decodeSampleBatch(body);
    return undefined;
  } catch (err) {
    if (!(err instanceof SampleBatchFormatError)) throw err;
    return err;
  }
}

describe('the packed form of metrics.samples bodies', () => {
  it('decodes every valid batch to what was encoded, a batch the schema accepts', () => {
    fc.assert(
      fc.property(validBatch, (batch) => {
        const decoded = decodeSampleBatch(encodeSampleBatch(batch));
        expect(decoded).toEqual(batch);
        expect(SampleBatchSchema.safeParse(decoded).success).toBe(true);
      }),
    );
  });

  it('refuses every truncated body with a named field, and decodes a damaged one only into a valid batch', () => {
    fc.assert(
      fc.property(validBatch, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (batch, cut, at, byte) => {
        const body = Buffer.from(encodeSampleBatch(batch));
        const truncated = body.subarray(0, cut % body.length);
        expect(refusal(truncated)?.field).toEqual(expect.any(String));
        const damaged = Buffer.from(body);
        damaged[at % damaged.length] = byte;
        if (!refusal(damaged)) expect(SampleBatchSchema.safeParse(decodeSampleBatch(damaged)).success).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('names the wrong field of a bad body', () => {
    const batch = (value: number, name = 'm', ts = 1): SampleBatch => ({ parts: [{ id: 'a:1', source: 'a', samples: [{ name: 'ok', value: 1, ts: 1, tags: {} }, { name, value, ts, tags: { k: 'v' } }] }] });
    expect(refusal(new TextEncoder().encode('{"parts":[]}'))).toMatchObject({ field: '(message)', reason: 'not a sample batch (version TSB1)' });
    expect(isPackedSampleBatch(new TextEncoder().encode('{"parts":[]}'))).toBe(false);
    expect(refusal(encodeSampleBatch(batch(Infinity)))).toMatchObject({ field: 'parts[0].samples[1].value', reason: 'not a finite number or a staleness marker' });
    expect(refusal(encodeSampleBatch(batch(1, 'm', 1.5)))).toMatchObject({ field: 'parts[0].samples[1].ts' });
    expect(refusal(encodeSampleBatch(batch(1, '9lives')))).toMatchObject({ field: 'parts[0].names[1]', reason: 'not a metric name' });
    const body = Buffer.from(encodeSampleBatch(batch(1)));
    const tags = body.indexOf('{"k":"v"}');
    body.write('["v"]    ', tags);
    expect(refusal(body)).toMatchObject({ field: 'parts[0].samples[1].tags', reason: 'not an object' });
    expect(refusal(Buffer.concat([encodeSampleBatch(batch(1)), Buffer.from([0])]))).toMatchObject({ field: '(message)', reason: '1 bytes after the last part' });
  });

  it('carries a staleness marker as one, a batch the schema accepts', () => {
    const decoded = decodeSampleBatch(encodeSampleBatch({ parts: [{ id: 'a:1', source: 'a', samples: [{ name: 'm', value: STALE_MARKER, ts: 5, tags: {} }] }] }));
    expect(isStaleMarker(decoded.parts[0]!.samples[0]!)).toBe(true);
    expect(isStaleMarker({ value: 0 })).toBe(false);
    expect(SampleBatchSchema.safeParse(decoded).success).toBe(true);
  });

  it('gives the samples of one series one frozen tags object', () => {
    const { parts } = decodeSampleBatch(encodeSampleBatch({ parts: [{ id: 'a:1', source: 'a', samples: [1, 2].map((ts) => ({ name: 'm', value: ts, ts, tags: { a: '2', z: '1' } })) }] }));
    const [first, second] = parts[0]!.samples;
    expect(first!.tags).toEqual({ a: '2', z: '1' });
    expect(second!.tags).toBe(first!.tags);
    expect(Object.isFrozen(first!.tags)).toBe(true);
  });

  it('keeps a decoded tags object\'s JSON on it only when that JSON is canonical (keys sorted, no spacing)', () => {
    const decoded = (json: string) => {
      const body = Buffer.from(encodeSampleBatch({ parts: [{ id: 'a:1', source: 'a', samples: [{ name: 'm', value: 1, ts: 1, tags: { a: '2' } }] }] }));
      const at = body.indexOf('{"a":"2"}');
      const patched = Buffer.concat([body.subarray(0, at - 4), Buffer.alloc(4), Buffer.from(json), body.subarray(at + 9)]);
      patched.writeUInt32LE(Buffer.byteLength(json), at - 4);
      return decodeSampleBatch(patched).parts[0]!.samples[0]!.tags as { [TAGS_JSON]?: string };
    };
    expect(decoded('{"a":"2","z":"é"}')[TAGS_JSON]).toBe('{"a":"2","z":"é"}');
    expect(Object.keys(decoded('{"a":"2","z":"1"}'))).toEqual(['a', 'z']);
    expect(JSON.stringify(decoded('{"a":"2","z":"1"}'))).toBe('{"a":"2","z":"1"}');
    expect(decoded('{"z":"1","a":"2"}')[TAGS_JSON]).toBeUndefined();
    expect(decoded('{"a": "2"}')[TAGS_JSON]).toBeUndefined();
  });

  it('writes the tags JSON its producer built instead of serializing the tags again', () => {
    // The object's keys out of order, its producer's JSON sorted: the body carries the JSON given.
    const samples: Sample[] = [
      { name: 'm', value: 1, ts: 1, tags: { b: 'é', a: '1' } },
      { name: 'm', value: 2, ts: 2, tags: {} },
    ];
    const body = sampleBatchBodies([{ id: 'a:1', source: 'a', samples, tagsJson: ['{"a":"1","b":"é"}', '{}'] }], Infinity)[0]!.body;
    const decoded = decodeSampleBatch(body).parts[0]!.samples;
    expect(decoded.map((s) => (s.tags as { [TAGS_JSON]?: string })[TAGS_JSON])).toEqual(['{"a":"1","b":"é"}', '{}']);
    expect(Buffer.from(body).includes('{"b":"é","a":"1"}')).toBe(false);
  });

  it('holds the marker of each metric name it carries, and not that of a longer name sharing its start', () => {
    const body = Buffer.from(encodeSampleBatch({ parts: [{ id: 'a:1', source: 'a', samples: [{ name: 'queue_depth_max', value: 1, ts: 1, tags: { note: 'queue_depth' } }] }] }));
    expect(body.includes(sampleNameMarker('queue_depth_max'))).toBe(true);
    expect(body.includes(sampleNameMarker('queue_depth'))).toBe(false);
  });
});

describe('decoded tags', () => {
  const tagsOf = (i: number) => ({ instance: `10.0.${i % 250}.1:9100`, series: String(i) });
  /** Two rounds of a fleet of `fleet` series, each series once a round, in the same order: the tags decoded. */
  function twoRounds(fleet: number): [Sample['tags'][], Sample['tags'][]] {
    const bodies = sampleBatchBodies(
      Array.from({ length: fleet / 1000 }, (_, m) => ({ id: `INGEST:${m}`, source: 'game', samples: Array.from({ length: 1000 }, (_, j) => ({ name: 'load', value: j, ts: 1, tags: tagsOf(m * 1000 + j) })) })),
      1 << 20,
    );
    const round = () => bodies.flatMap(({ body }) => decodeSampleBatch(body).parts.flatMap((p) => p.samples.map((s) => s.tags)));
    return [round(), round()];
  }

  it('are parsed once per series for a fleet of 300,000 series coming round in order', () => {
    const fleet = 300_000;
    const [first, second] = twoRounds(fleet);
    expect(second).toHaveLength(fleet);
    // The same object again: found in memory, not parsed anew.
    expect(second.filter((tags, i) => tags !== first[i]).length).toBe(0);
    expect(second[fleet - 1]).toEqual(tagsOf(fleet - 1));
  });

  it('are not remembered when their JSON is long (a sender\'s 400 KB tags would fill the memory, refused or not)', () => {
    const tags = { k: 'x'.repeat(8192) };
    const body = () => encodeSampleBatch({ parts: [{ id: 'big', source: 'game', samples: [{ name: 'm', value: 1, ts: 1, tags }] }] });
    const [first, second] = [decodeSampleBatch(body()).parts[0]!.samples[0]!.tags, decodeSampleBatch(body()).parts[0]!.samples[0]!.tags];
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
  });

  it('are the same, frozen and carrying their JSON, for a fleet of more series than they remember (500,000)', () => {
    // Past two generations of 200,000 the second round parses the series it no longer holds and lets them go.
    const fleet = 500_000;
    const [first, second] = twoRounds(fleet);
    expect(second).toHaveLength(fleet);
    // Series from the start of the round (parsed again) and from its end (still held), every 997th of them.
    for (let i = 0; i < fleet; i += 997) {
      const tags = second[i] as Record<string, string> & { [TAGS_JSON]?: string };
      expect(tags).toEqual(tagsOf(i));
      expect(tags[TAGS_JSON]).toBe(JSON.stringify(tagsOf(i)));
      expect(Object.isFrozen(tags)).toBe(true);
    }
    // Some were found in memory, the others parsed again.
    expect(second.some((tags, i) => tags === first[i])).toBe(true);
    expect(second.some((tags, i) => tags !== first[i])).toBe(true);
  });
});

describe('sampleBatchBodies', () => {
  const part = (i: number, n: number): SamplePart => ({ id: `INGEST:${i}`, source: 'game', samples: Array.from({ length: n }, (_, j) => ({ name: 'm', value: j, ts: 1, tags: { é: 'ü' } })) });

  it('splits parts into bodies within the byte limit, in order, each body a valid batch', () => {
    const parts = Array.from({ length: 40 }, (_, i) => part(i, 1 + (i % 7)));
    const bodies = sampleBatchBodies(parts, 300);
    expect(bodies.length).toBeGreaterThan(1);
    const decoded = bodies.map(({ body }) => decodeSampleBatch(body));
    expect(decoded.flatMap((b) => b.parts)).toEqual(parts);
    expect(bodies.map((b) => b.ids)).toEqual(decoded.map((b) => b.parts.map((p) => p.id)));
    for (const { body } of bodies) expect(body.byteLength).toBeLessThanOrEqual(300);
  });

  it('cuts a part larger than the limit on its own into parts that fit, under ids derived from its own', () => {
    const big = part(2, 50);
    const bodies = sampleBatchBodies([part(1, 1), big, part(3, 1)], 500);
    for (const { body } of bodies) expect(body.byteLength).toBeLessThanOrEqual(500);
    const decoded = bodies.flatMap(({ body }) => decodeSampleBatch(body).parts);
    expect(decoded.filter((p) => p.id.startsWith('INGEST:2/')).flatMap((p) => p.samples)).toEqual(big.samples);
    expect(decoded.map((p) => p.id)).toEqual(['INGEST:1', ...decoded.map((p) => p.id).filter((id) => id.startsWith('INGEST:2/')), 'INGEST:3']);
    // The same cut on a redelivery: the ids, and so the publishes' message ids, are the same.
    expect(sampleBatchBodies([part(1, 1), big, part(3, 1)], 500).map((b) => b.ids)).toEqual(bodies.map((b) => b.ids));
  });

  it('makes no body of no parts', () => {
    expect(sampleBatchBodies([], 1000)).toEqual([]);
  });
});
