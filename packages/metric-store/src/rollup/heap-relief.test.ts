import { afterEach, describe, expect, it, vi } from 'vitest';
import { relieveHeap } from './heap-relief.ts';

const host = globalThis as { gc?: () => void };
const exposed = host.gc;
afterEach(() => {
  host.gc = exposed;
});

describe('relieveHeap', () => {
  it('does nothing where the process cannot collect on request', () => {
    host.gc = undefined;
    expect(() => relieveHeap()).not.toThrow();
  });

  it('collects once the heap has grown by 64 MiB since the last collection, and not again before it grows as much', () => {
    const gc = vi.fn();
    host.gc = gc;
    relieveHeap();
    gc.mockClear();
    // 80 MiB of doubles on the heap, held until the end of the test.
    const held = new Array<number>(10 * 1024 * 1024).fill(0.5);
    relieveHeap();
    expect(gc).toHaveBeenCalledTimes(1);
    relieveHeap();
    expect(gc).toHaveBeenCalledTimes(1);
    expect(held.length).toBeGreaterThan(0);
  });
});
