import { describe, expect, it } from 'vitest';
import { processConcurrently } from './process-concurrently.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('processConcurrently', () => {
  it('runs every item with at most `limit` at once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await processConcurrently([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      most = Math.max(most, running);
      await tick();
      done.push(n);
      running--;
    });
    expect(most).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('waits for every item before rejecting with the first failure', async () => {
    const done: number[] = [];
    const result = processConcurrently([1, 2, 3, 4], 2, async (n) => {
      await tick();
      if (n === 1) throw new Error('first');
      done.push(n);
    });
    await expect(result).rejects.toThrow('first');
    expect(done.sort()).toEqual([2, 3, 4]);
  });
});
