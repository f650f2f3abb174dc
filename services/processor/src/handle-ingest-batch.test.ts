import { describe, expect, it } from 'vitest';
import { fieldLabel } from './handle-ingest-batch.ts';

describe('the field label of a rejection', () => {
  it('folds array indices and the tag key, whatever the key holds', () => {
    expect(fieldLabel('samples[12].value')).toBe('samples[].value');
    expect(fieldLabel('samples[3].tags.bad-key')).toBe('samples[].tags.*');
    expect(fieldLabel('tags.__proto__')).toBe('tags.*');
    expect(fieldLabel('samples[0].tags')).toBe('samples[].tags');
    // `.` stops at a newline: each such key was a series of the counter of its own.
    expect(fieldLabel('samples[0].tags.a\nb')).toBe('samples[].tags.*');
    expect(fieldLabel('samples[7].tags.x[1]\r\n[2]')).toBe('samples[].tags.*');
  });

  it('folds a key of `.tags.` over and over then a newline in linear time (it was quadratic)', () => {
    const field = `samples[0].tags.${'.tags.'.repeat(50_000)}\n`;
    const started = performance.now();
    expect(fieldLabel(field)).toBe('samples[].tags.*');
    expect(performance.now() - started).toBeLessThan(200);
  });
});
