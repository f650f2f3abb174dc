import { describe, expect, it } from 'vitest';
import { EngineSlots } from './engine-slots.ts';

const settled = async (p: Promise<unknown>) => Promise.race([p.then(() => 'resolved', () => 'rejected'), new Promise((r) => setImmediate(() => r('pending')))]);

describe('EngineSlots', () => {
  it('lets `size` calls in at once and the next ones in their order as slots free', async () => {
    const slots = new EngineSlots(2);
    const never = new AbortController().signal;
    const [a, b] = await Promise.all([slots.acquire(never), slots.acquire(never)]);
    const order: string[] = [];
    const c = slots.acquire(never).then((release) => (order.push('c'), release));
    const d = slots.acquire(never).then((release) => (order.push('d'), release));
    expect(await settled(c)).toBe('pending');
    a();
    a(); // A second release of the same slot frees nothing more.
    expect(await settled(d)).toBe('pending');
    b();
    (await c)();
    (await d)();
    expect(order).toEqual(['c', 'd']);
    // Every slot free again: two at once, no more.
    await Promise.all([slots.acquire(never), slots.acquire(never)]);
    expect(await settled(slots.acquire(never))).toBe('pending');
  });

  it('takes a waiting call out of the line when its caller gives up, with the signal’s reason', async () => {
    const slots = new EngineSlots(1);
    const held = await slots.acquire(new AbortController().signal);
    const gone = new AbortController();
    const waiting = slots.acquire(gone.signal);
    const next = slots.acquire(new AbortController().signal);
    gone.abort(new Error('the client hung up'));
    await expect(waiting).rejects.toThrow('the client hung up');
    held();
    // The slot went to the one behind it, not to the caller that left.
    expect(await settled(next)).toBe('resolved');
    await expect(slots.acquire(AbortSignal.abort(new Error('already gone')))).rejects.toThrow('already gone');
  });
});
