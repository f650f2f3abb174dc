import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_TAG_KEY_LENGTH, TAG_KEY } from '@terminusa/bus';
import { oneMistake } from '@terminusa/testkit';
import { fastSample, ingestSampleSchema } from './validate-samples.ts';

const LIMITS = { maxTags: 3, maxTagValueLength: 8 };
const schema = ingestSampleSchema(LIMITS);

const validSample = fc.record(
  {
    name: fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,30}$/),
    value: fc.double({ noNaN: true, noDefaultInfinity: true }),
    ts: fc.integer({ min: 1, max: 2 ** 45 }),
    tags: fc.dictionary(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,6}$/).filter((key) => TAG_KEY.test(key)), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['name', 'value'] },
);

describe('the fast sample check', () => {
  it('accepts only what the schema accepts under the same limits', () => {
    fc.assert(
      fc.property(oneMistake(validSample), (candidate) => {
        if (fastSample(candidate, LIMITS)) expect(schema.safeParse(candidate).success).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('leaves a tag key longer than MAX_TAG_KEY_LENGTH to the schema, which refuses it', () => {
    const sample = (key: string) => ({ name: 'm', value: 1, tags: { [key]: 'v' } });
    const longest = 'k'.repeat(MAX_TAG_KEY_LENGTH);
    expect(fastSample(sample(longest), LIMITS)).toEqual(sample(longest));
    expect(fastSample(sample(`${longest}k`), LIMITS)).toBeUndefined();
    expect(schema.safeParse(sample(`${longest}k`)).success).toBe(false);
    expect(fastSample(sample('k'.repeat(400_000)), LIMITS)).toBeUndefined();
  });

  it('accepts every valid sample as it is, so good traffic never reaches the schema', () => {
    fc.assert(
      fc.property(validSample, (sample) => {
        const received = JSON.parse(JSON.stringify(sample)) as unknown;
        expect(schema.safeParse(received).success).toBe(true);
        expect(fastSample(received, LIMITS)).toEqual(received);
      }),
    );
  });
});
