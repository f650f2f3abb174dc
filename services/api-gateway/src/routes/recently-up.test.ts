import { describe, expect, it } from 'vitest';
import { RecentlyUp, UP_FOR_MS } from './recently-up.ts';

describe('services recently up', () => {
  it('count a service a round of discovery missed as up for UP_FOR_MS, and down after', () => {
    let now = 0;
    const seen = new RecentlyUp(() => now);
    const all = ['storage', 'processor'];
    expect(seen.allUp(['storage'], all)).toBe(false);
    expect(seen.allUp(['storage', 'processor'], all)).toBe(true);
    now = UP_FOR_MS;
    expect(seen.allUp(['storage'], all)).toBe(true);
    now = UP_FOR_MS + 1;
    expect(seen.allUp(['storage'], all)).toBe(false);
    expect(seen.allUp(['processor'], all)).toBe(true);
  });
});
