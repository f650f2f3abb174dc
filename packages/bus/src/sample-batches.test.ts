import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { oneMistake } from '@terminusa/testkit';
import { isSampleBatch, SampleBatchSchema, sampleBatchBodies, type SamplePart } from './index.ts';

const validName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,20}$/);
const validSample = fc.record({
  name: validName,
  value: fc.double({ noNaN: true, noDefaultInfinity: true }),
  ts: fc.integer({ min: -(2 ** 40), max: 2 ** 45 }),
  tags: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
});
const validPart = fc.record({ id: fc.string({ minLength: 1, maxLength: 10 }), source: fc.stringMatching(/^[A-Za-z0-9_-]{1,10}$/), samples: fc.array(validSample, { maxLength: 4 }) });
const validBatch = fc.record({ parts: fc.array(validPart, { minLength: 1, maxLength: 3 }) });

describe('the fast check of metrics.samples bodies', () => {
  it('accepts only what the schema accepts', () => {
    fc.assert(
      fc.property(oneMistake(validBatch), (value) => {
        if (isSampleBatch(value)) expect(SampleBatchSchema.safeParse(value).success).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('accepts every valid batch, so the schema is not run on good traffic', () => {
    fc.assert(
      fc.property(validBatch, (batch) => {
        expect(SampleBatchSchema.safeParse(batch).success).toBe(true);
        expect(isSampleBatch(JSON.parse(JSON.stringify(batch)))).toBe(true);
      }),
    );
  });
});

describe('sampleBatchBodies', () => {
  const part = (i: number, n: number): SamplePart => ({ id: `INGEST:${i}`, source: 'game', samples: Array.from({ length: n }, (_, j) => ({ name: 'm', value: j, ts: 1, tags: { é: 'ü' } })) });

  it('splits parts into bodies within the byte limit, in order, each body a valid batch', () => {
    const parts = Array.from({ length: 40 }, (_, i) => part(i, 1 + (i % 7)));
    const bodies = sampleBatchBodies(parts, 1000);
    expect(bodies.length).toBeGreaterThan(1);
    const decoded = bodies.map(({ body }) => SampleBatchSchema.parse(JSON.parse(new TextDecoder().decode(body))));
    expect(decoded.flatMap((b) => b.parts)).toEqual(parts);
    expect(bodies.map((b) => b.ids)).toEqual(decoded.map((b) => b.parts.map((p) => p.id)));
    for (const { body } of bodies) expect(body.byteLength).toBeLessThanOrEqual(1000);
  });

  it('sends a part larger than the limit on its own', () => {
    const bodies = sampleBatchBodies([part(1, 1), part(2, 50), part(3, 1)], 500);
    expect(bodies.map((b) => b.ids)).toEqual([['INGEST:1'], ['INGEST:2'], ['INGEST:3']]);
    expect(bodies[1]!.body.byteLength).toBeGreaterThan(500);
  });

  it('makes no body of no parts', () => {
    expect(sampleBatchBodies([], 1000)).toEqual([]);
  });
});
