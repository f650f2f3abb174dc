import { describe, expect, it } from 'vitest';
import { sparkline } from './sparkline.ts';

describe('sparkline', () => {
  it('maps the lowest value to the lowest bar and the highest to the highest', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([10, 0])).toBe('█▁');
  });

  it('draws a flat series as middle bars, gaps as spaces, and nothing for no points', () => {
    expect(sparkline([5, 5, 5])).toBe('▄▄▄');
    expect(sparkline([1, NaN, 3])).toBe('▁ █');
    expect(sparkline([])).toBe('');
    expect(sparkline([NaN, NaN])).toBe('  ');
  });

  it('averages a long series into at most width characters', () => {
    const line = sparkline(Array.from({ length: 1000 }, (_, i) => i), 20);
    expect([...line]).toHaveLength(20);
    expect(line[0]).toBe('▁');
    expect(line.at(-1)).toBe('█');
  });
});
