import { describe, expect, it } from 'vitest';
import { HOST_WINDOW_MS, HostMetrics } from '../host-metrics.ts';
import { SeriesWindow } from './series-window.ts';

const MIN = 60_000;

describe('SeriesWindow', () => {
  it('holds only the window as points come, drawn or not', () => {
    const window = new SeriesWindow(30 * MIN);
    for (let i = 0; i < 600; i++) window.add('usage', i * MIN, i);
    expect(window.size).toBeLessThanOrEqual(34);
    expect(window.newest).toBe(599 * MIN);
    // A point older than the window is not taken at all.
    window.add('usage', 0, 1);
    expect(window.aligned()[0][0]).toBe((599 - 30) * 60);
  });

  it('tells its latest value over a hundred thousand points (spread into Math.max they overflowed the stack)', () => {
    const window = new SeriesWindow(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 100_000; i++) window.add('usage', i, i);
    expect(window.latest).toBe(99_999);
  });

  it('replaces a point at its timestamp, so a redelivered sample counts once', () => {
    const window = new SeriesWindow(30 * MIN, 'sum');
    window.add('in', MIN, 5, 'eth0');
    window.add('in', MIN, 5, 'eth0');
    window.add('in', MIN, 7, 'eth1');
    expect(window.aligned()).toEqual([[60], [12]]);
  });
});

describe('HostMetrics', () => {
  it('forgets a host with no point in the window, so a gone host gives up its panel', () => {
    const metrics = new HostMetrics();
    const cpu = (host: string, ts: number) => ({ name: 'system_cpu_usage_percent', tags: { host }, ts, value: 1 });
    metrics.add([cpu('gone', 0), cpu('here', 0)]);
    expect(metrics.hosts).toEqual(['gone', 'here']);
    metrics.add([cpu('here', HOST_WINDOW_MS + MIN)]);
    expect(metrics.hosts).toEqual(['here']);
  });
});
