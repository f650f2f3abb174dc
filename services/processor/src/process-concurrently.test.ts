import { describe, expect, it } from 'vitest';
import { processConcurrently } from './process-concurrently.ts';

/** Tasks that run until the test ends them, recording how many ran at once. */
function heldTasks() {
  const ends = new Map<number, (err?: Error) => void>();
  const started: number[] = [];
  const done: number[] = [];
  let running = 0;
  let most = 0;
  const task = (n: number) =>
    new Promise<void>((resolve, reject) => {
      running++;
      most = Math.max(most, running);
      started.push(n);
      ends.set(n, (err) => {
        running--;
        if (err) return reject(err);
        done.push(n);
        resolve();
      });
    });
  /** Ends task `n`; resolves once its worker went on (it starts the next item at once, if one is left). */
  const end = async (n: number, err?: Error) => {
    ends.get(n)!(err);
    // Every promise reaction queued by then has run before an immediate.
    await new Promise((r) => setImmediate(r));
  };
  return { task, end, started, done, most: () => most };
}

describe('processConcurrently', () => {
  it('runs every item with at most `limit` at once', async () => {
    const held = heldTasks();
    const run = processConcurrently([1, 2, 3, 4, 5, 6, 7], 3, held.task);
    expect(held.started).toEqual([1, 2, 3]);
    for (const [n, next] of [[2, 4], [1, 5], [4, 6], [3, 7]] as const) {
      await held.end(n);
      expect(held.started.at(-1)).toBe(next);
    }
    for (const n of [5, 6, 7]) await held.end(n);
    await run;
    expect(held.most()).toBe(3);
    expect(held.done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('waits for every item before rejecting with the first failure', async () => {
    const held = heldTasks();
    const run = processConcurrently([1, 2, 3, 4], 2, held.task);
    let doneWhenRejected: number[] | undefined;
    void run.catch(() => void (doneWhenRejected = [...held.done]));
    const rejected = expect(run).rejects.toThrow('first');
    await held.end(1, new Error('first'));
    expect(held.started).toEqual([1, 2, 3]);
    await held.end(3);
    await held.end(4);
    expect(doneWhenRejected).toBeUndefined();
    await held.end(2);
    await rejected;
    expect(doneWhenRejected?.sort()).toEqual([2, 3, 4]);
  });
});
