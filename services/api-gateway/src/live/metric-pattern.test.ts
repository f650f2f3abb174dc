import { describe, expect, it } from 'vitest';
import { compileMetricPattern, isMetricPattern, MAX_PATTERN_STARS, MetricPatternSet } from './metric-pattern.ts';

describe('compileMetricPattern', () => {
  const cases: [pattern: string, matching: string[], other: string[]][] = [
    ['players_online', ['players_online'], ['players_online_total', 'xplayers_online', 'players']],
    ['system_cpu_*', ['system_cpu_', 'system_cpu_usage', 'system_cpu_usage_total'], ['system_cpu', 'system_memory_used', 'a_system_cpu_usage']],
    ['*_total', ['_total', 'requests_total'], ['requests_total_x', 'total']],
    ['http_*_seconds', ['http_request_seconds', 'http__seconds'], ['http_request_seconds_sum', 'grpc_request_seconds']],
    ['a*b*c', ['abc', 'aXbYc', 'abbbc', 'acbc', 'abcbc'], ['ab', 'acb', 'abcx', 'xabc']],
    ['*cpu*', ['cpu', 'system_cpu_usage', 'cpu_total'], ['system_memory']],
    ['a**b', ['ab', 'aXXb'], ['a', 'ba']],
    ['*', ['x', 'any_name:sub'], []],
  ];

  it.each(cases)('%s matches whole names only', (pattern, matching, other) => {
    const regex = compileMetricPattern(pattern);
    for (const name of matching) expect(regex.test(name), `${pattern} ~ ${name}`).toBe(true);
    for (const name of other) expect(regex.test(name), `${pattern} !~ ${name}`).toBe(false);
  });

  it('treats regex characters literally', () => {
    expect(compileMetricPattern('a.b').test('axb')).toBe(false);
    expect(compileMetricPattern('a.b').test('a.b')).toBe(true);
  });

  it('stays fast on patterns built to backtrack', () => {
    const name = 'a'.repeat(200);
    const worst = `${'*a'.repeat(MAX_PATTERN_STARS - 1)}*b`;
    const long = `${'*a'.repeat(99)}*b`.slice(0, 200);
    const set = new MetricPatternSet(100);
    set.add(Array.from({ length: 100 }, (_, i) => `${worst}${i}`));
    const started = performance.now();
    expect(compileMetricPattern(long).test(name)).toBe(false);
    expect(set.matches(name)).toBe(false);
    // Catastrophic backtracking on these inputs runs for minutes; a generous bound keeps this robust on a busy CI machine.
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(5000);
  });

  it('accepts metric-name characters and a few stars only', () => {
    expect(isMetricPattern('system_cpu_*')).toBe(true);
    expect(isMetricPattern('ns:metric*')).toBe(true);
    expect(isMetricPattern('*'.repeat(MAX_PATTERN_STARS))).toBe(true);
    expect(isMetricPattern('*'.repeat(MAX_PATTERN_STARS + 1))).toBe(false);
    expect(isMetricPattern('a.b')).toBe(false);
    expect(isMetricPattern('(a+)+')).toBe(false);
    expect(isMetricPattern('')).toBe(false);
    expect(isMetricPattern('a'.repeat(201))).toBe(false);
  });
});

describe('MetricPatternSet', () => {
  it('adds and removes patterns and refuses to grow past its maximum', () => {
    const set = new MetricPatternSet(3);
    expect(set.matches('cpu')).toBe(false);
    expect(set.add(['cpu', 'mem_*'])).toBe(true);
    expect(set.matches('mem_used')).toBe(true);
    expect(set.add(['cpu', 'disk'])).toBe(true);
    expect(set.size).toBe(3);
    expect(set.add(['net'])).toBe(false);
    expect(set.list()).toEqual(['cpu', 'mem_*', 'disk']);
    set.remove(['mem_*', 'unknown']);
    expect(set.matches('mem_used')).toBe(false);
    expect(set.matches('cpu')).toBe(true);
  });

  it('forgets cached outcomes when its patterns change', () => {
    const set = new MetricPatternSet(10);
    expect(set.matches('disk_free')).toBe(false);
    set.add(['disk_*']);
    expect(set.matches('disk_free')).toBe(true);
    set.remove(['disk_*']);
    expect(set.matches('disk_free')).toBe(false);
  });
});
