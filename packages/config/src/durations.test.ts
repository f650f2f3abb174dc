import { describe, expect, it } from 'vitest';
import { durationMs, prometheusDurationMs } from './durations.ts';

describe('durations', () => {
  it('reads a setting as seconds or one unit', () => {
    expect(durationMs(30)).toBe(30_000);
    expect(durationMs('2h')).toBe(7_200_000);
    expect(() => durationMs('1h30m')).toThrow(RangeError);
  });

  it("reads Prometheus' durations: units from years to milliseconds, each once, in that order", () => {
    expect(prometheusDurationMs('1h30m')).toBe(5_400_000);
    expect(prometheusDurationMs('1y2w3d4h5m6s7ms')).toBe(365 * 86_400_000 + 14 * 86_400_000 + 3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6_000 + 7);
    expect(prometheusDurationMs('0s')).toBe(0);
    for (const text of ['', '5m1h', '1.5m', 'soon', '10']) expect(prometheusDurationMs(text), text).toBeUndefined();
  });
});
