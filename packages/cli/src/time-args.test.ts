import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { parseDuration, parseTime } from './time-args.ts';

describe('times and durations', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  it('reads now, durations ago, ISO-8601 and epoch ms', () => {
    expect(parseTime('now', now)).toBe(now);
    expect(parseTime('1h', now)).toBe(now - 3_600_000);
    expect(parseTime('now-30m', now)).toBe(now - 1_800_000);
    expect(parseTime('-2d', now)).toBe(now - 172_800_000);
    expect(parseTime('2026-01-01T00:00:00Z', now)).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parseTime('1767225600000', now)).toBe(1767225600000);
    expect(parseTime('0', now)).toBe(0);
    expect(() => parseTime('yesterday', now)).toThrow(InvalidArgumentError);
  });

  it('reads durations with units', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(() => parseDuration('5 minutes')).toThrow(/duration/);
  });
});
