import { describe, expect, it } from 'vitest';
import { eachInParallel } from './each-in-parallel.ts';

describe('eachInParallel', () => {
  it('on a failure, waits for the items in hand, starts no other, and then throws the failure', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    let releaseSlow!: () => void;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    const run = eachInParallel([1, 2, 3, 4, 5, 6], 2, async (item) => {
      started.push(item);
      if (item === 1) await slow;
      if (item === 2) throw new Error('chunk 2 replaced');
      finished.push(item);
    });
    let settled = false;
    void run.catch(() => undefined).finally(() => (settled = true));
    // Item 2 failed at once; item 1 is still being written: the run has not thrown yet.
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    releaseSlow();
    await expect(run).rejects.toThrow('chunk 2 replaced');
    expect(started).toEqual([1, 2]);
    expect(finished).toEqual([1]);
  });

  it('runs every item when none fails, at most `parallel` at once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await eachInParallel([1, 2, 3, 4, 5], 2, async (item) => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      done.push(item);
    });
    expect(done.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });
});
