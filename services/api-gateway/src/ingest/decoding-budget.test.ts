import { describe, expect, it } from 'vitest';
import { DecodingBudget } from './decoding-budget.ts';

describe('DecodingBudget', () => {
  it('takes what fits, always one request when nothing is held, and takes again what is given back (once)', () => {
    const budget = new DecodingBudget(100);
    const huge = budget.take(500);
    expect(huge).toBeDefined();
    expect(budget.take(1)).toBeUndefined();
    huge!();
    huge!();
    expect(budget.held).toBe(0);
    const a = budget.take(60)!;
    expect(budget.take(41)).toBeUndefined();
    const b = budget.take(40)!;
    expect(budget.held).toBe(100);
    a();
    b();
    expect(budget.held).toBe(0);
  });
});
