import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { deadLetterOf, DeadLetterSchema, type Rejection } from './index.ts';

const refusal = (rejections: Rejection[]) => ({ subject: 'metrics.ingest.game', receivedAt: 1, rejections, accepted: 0 });
const bytesOf = (letter: unknown) => Buffer.byteLength(JSON.stringify(letter));
/** The raw bytes a dead letter keeps. */
const keptBytes = (letter: ReturnType<typeof deadLetterOf>) => Buffer.from(letter.raw, letter.rawEncoding === 'utf8' ? 'utf8' : 'base64');

describe('deadLetterOf', () => {
  it('keeps everything when it fits', () => {
    const raw = Buffer.from('{"samples":[{"name":"m","value":"x"}]}');
    const letter = deadLetterOf(refusal([{ index: 0, field: 'samples[0].value', reason: 'expected number' }]), raw, 64 * 1024);
    expect(letter).toEqual({ ...refusal([{ index: 0, field: 'samples[0].value', reason: 'expected number' }]), raw: raw.toString(), rawEncoding: 'utf8' });
  });

  it('fits any refusal in the limit, lists the first rejections and the head of the message, and counts the rest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 3000 }).map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a))),
        fc.integer({ min: 2048, max: 40_000 }),
        (rejected, raw, maxBytes) => {
          const rejections = Array.from({ length: rejected }, (_, i) => ({ index: i, field: `samples[${i}].value`, reason: 'expected number, received "string"' }));
          const letter = deadLetterOf(refusal(rejections), raw, maxBytes);
          expect(DeadLetterSchema.safeParse(letter).success).toBe(true);
          expect(bytesOf(letter)).toBeLessThanOrEqual(maxBytes);
          expect(letter.rejections).toEqual(rejections.slice(0, letter.rejections.length));
          expect(letter.rejections.length + (letter.rejectionsNotListed ?? 0)).toBe(rejected);
          const kept = keptBytes(letter);
          expect(kept).toEqual(raw.subarray(0, kept.length));
          expect(kept.length + (letter.rawBytesNotKept ?? 0)).toBe(raw.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fits a rejection whose field is the sender’s huge tag key, cut and saying how much', () => {
    const key = '\ufffd'.repeat(400_000);
    const letter = deadLetterOf(refusal([{ index: 0, field: `samples[0].tags.${key}`, reason: 'tag keys must match [a-zA-Z_][a-zA-Z0-9_]*' }]), Buffer.alloc(400_000, 0xff), 64 * 1024);
    expect(bytesOf(letter)).toBeLessThanOrEqual(64 * 1024);
    expect(letter.rejections).toHaveLength(1);
    expect(letter.rejections[0]!.field).toMatch(/^samples\[0\]\.tags\.\ufffd+… \(398992 more characters\)$/);
    expect(letter.rejections[0]!.reason).toBe('tag keys must match [a-zA-Z_][a-zA-Z0-9_]*');
  });
});
