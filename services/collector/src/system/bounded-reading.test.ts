import { describe, expect, it } from 'vitest';
import { boundedReading } from './bounded-reading.ts';

describe('a bounded reading', () => {
  it('gives a hung reading up with the fallback, and starts no other while it hangs', async () => {
    let started = 0;
    let finish!: (value: string[]) => void;
    const read = boundedReading(
      () => {
        started++;
        return new Promise<string[]>((resolve) => (finish = resolve));
      },
      50,
      [],
    );
    expect(await read()).toEqual([]);
    expect(await read()).toEqual([]);
    expect(started).toBe(1);
    // Once it answers, that answer is taken, and the next call reads afresh.
    const waiting = read();
    finish(['/']);
    expect(await waiting).toEqual(['/']);
    const next = read();
    expect(started).toBe(2);
    finish(['/data']);
    expect(await next).toEqual(['/data']);
  });

  it('passes a failure through, and reads again after it', async () => {
    let calls = 0;
    const read = boundedReading(async () => {
      if (++calls === 1) throw new Error('df failed');
      return ['/'];
    }, 1000, []);
    await expect(read()).rejects.toThrow('df failed');
    expect(await read()).toEqual(['/']);
  });
});
