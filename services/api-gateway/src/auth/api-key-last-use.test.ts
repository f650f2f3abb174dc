import { describe, expect, it } from 'vitest';
import { ApiKeyLastUse } from './api-key-last-use.ts';

/** A recorder on a clock the test moves, whose writes are kept (or fail while `failing`). */
function recorder() {
  const clock = { now: 1_000_000 };
  const writes: string[][] = [];
  const errors: string[][] = [];
  const state = { failing: false };
  let wrote: () => void = () => undefined;
  const lastUse = new ApiKeyLastUse(
    async (ids) => {
      if (state.failing) throw new Error('database down');
      writes.push([...ids].sort());
      wrote();
    },
    (_err, ids) => errors.push([...ids]),
    { intervalMs: 60_000, batchDelayMs: 20, now: () => clock.now },
  );
  const nextWrite = () => new Promise<void>((resolve) => (wrote = resolve));
  return { lastUse, clock, writes, errors, state, nextWrite };
}

describe('the last use of API keys', () => {
  it('is written in one batch shortly after the first use, then at most once per interval per key', async () => {
    const { lastUse, clock, writes, nextWrite } = recorder();
    const written = nextWrite();
    for (let i = 0; i < 50; i++) lastUse.used(i % 2 ? 'key-a' : 'key-b');
    await written;
    expect(writes).toEqual([['key-a', 'key-b']]);

    clock.now += 59_999;
    lastUse.used('key-a');
    await lastUse.flush();
    expect(writes).toHaveLength(1);

    clock.now += 1;
    lastUse.used('key-a');
    lastUse.used('key-a');
    await lastUse.flush();
    expect(writes).toEqual([['key-a', 'key-b'], ['key-a']]);
  });

  it('reports a failed write instead of throwing, and writes the key again at its next use', async () => {
    const { lastUse, writes, errors, state } = recorder();
    state.failing = true;
    lastUse.used('key-a');
    await expect(lastUse.flush()).resolves.toBeUndefined();
    expect(errors).toEqual([['key-a']]);
    state.failing = false;
    lastUse.used('key-a');
    await lastUse.flush();
    expect(writes).toEqual([['key-a']]);
  });

  it('writes what is pending on close, and marks nothing after it', async () => {
    const { lastUse, writes } = recorder();
    lastUse.used('key-a');
    await lastUse.close();
    expect(writes).toEqual([['key-a']]);
    lastUse.used('key-b');
    await lastUse.flush();
    expect(writes).toEqual([['key-a']]);
  });
});
