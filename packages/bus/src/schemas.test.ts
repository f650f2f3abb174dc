import { describe, expect, it } from 'vitest';
import { describeIssues } from './errors.ts';
import { GameEventSchema, IngestSampleSchema, MAX_TAG_KEY_LENGTH } from './schemas.ts';

describe('tag keys', () => {
  const key = (length: number) => `k${'e'.repeat(length - 1)}`;
  const refusal = (tags: Record<string, string>) => {
    const result = IngestSampleSchema.safeParse({ name: 'm', value: 1, tags });
    return result.success ? undefined : describeIssues(result.error);
  };

  it(`are at most ${MAX_TAG_KEY_LENGTH} characters, and a longer one is refused naming its field`, () => {
    expect(refusal({ [key(MAX_TAG_KEY_LENGTH)]: 'v' })).toBeUndefined();
    expect(refusal({ [key(MAX_TAG_KEY_LENGTH + 1)]: 'v' })).toEqual([{ field: `tags.${key(MAX_TAG_KEY_LENGTH + 1)}`, reason: `tag keys are at most ${MAX_TAG_KEY_LENGTH} characters` }]);
    // Refused for its length alone, whatever else it holds.
    expect(refusal({ [`bad-${key(MAX_TAG_KEY_LENGTH)}`]: 'v' })).toEqual([{ field: `tags.bad-${key(MAX_TAG_KEY_LENGTH)}`, reason: `tag keys are at most ${MAX_TAG_KEY_LENGTH} characters` }]);
    expect(GameEventSchema.safeParse({ tags: { [key(MAX_TAG_KEY_LENGTH + 1)]: 'v' } }).success).toBe(false);
  });

  it('refuses a key of 400 KB at once', () => {
    const started = performance.now();
    expect(refusal({ [key(400_000)]: 'v' })?.[0]?.reason).toBe(`tag keys are at most ${MAX_TAG_KEY_LENGTH} characters`);
    expect(performance.now() - started).toBeLessThan(100);
  });
});
