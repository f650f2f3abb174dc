import { describe, expect, it } from 'vitest';
import { DecodingBudget } from './decoding-budget.ts';

describe('DecodingBudget', () => {
  it('takes what fits, always one request when nothing is held, and takes again what is given back (once)', () => {
    const budget = new DecodingBudget(100);
    const huge = budget.take(500);
    expect(huge).toBeDefined();
    expect(budget.take(1)).toBeUndefined();
    huge!.release();
    huge!.release();
    expect(budget.held).toBe(0);
    const a = budget.take(60)!;
    expect(budget.take(41)).toBeUndefined();
    const b = budget.take(40)!;
    expect(budget.held).toBe(100);
    a.release();
    b.release();
    expect(budget.held).toBe(0);
  });

  it('grows a hold when the more fits, or when no other request holds any, and gives back all of it', () => {
    const budget = new DecodingBudget(100);
    const a = budget.take(30)!;
    // Alone, a request grows past the budget: one request is always taken.
    expect(a.grow(200)).toBe(true);
    expect(budget.held).toBe(230);
    a.release();
    expect(budget.held).toBe(0);
    const b = budget.take(30)!;
    const c = budget.take(30)!;
    expect(b.grow(41)).toBe(false);
    expect(budget.held).toBe(60);
    expect(b.grow(40)).toBe(true);
    expect(budget.held).toBe(100);
    b.release();
    expect(budget.held).toBe(30);
    // Given back, a hold grows no more.
    expect(b.grow(1)).toBe(false);
    c.release();
    expect(budget.held).toBe(0);
  });
});
