import { describe, expect, it } from 'vitest';
import { cpuPercentages, parseProcStat } from './cpu-times.ts';

const STAT = `cpu  100 10 50 800 20 5 5 10 0 0
cpu0 60 5 30 380 15 3 2 5 0 0
cpu1 40 5 20 420 5 2 3 5 0 0
intr 12345 0 0
ctxt 999
procs_running 3
procs_blocked 1
`;

describe('parseProcStat', () => {
  it('reads the total and per-core times by mode, and the runnable and blocked counts', () => {
    const stat = parseProcStat(STAT);
    expect(Object.keys(stat.cpus).sort()).toEqual(['0', '1', 'total']);
    expect(stat.cpus.total).toEqual({ user: 100, nice: 10, system: 50, idle: 800, iowait: 20, irq: 5, softirq: 5, steal: 10 });
    expect(stat.cpus['1']!.iowait).toBe(5);
    expect(stat).toMatchObject({ running: 3, blocked: 1 });
  });
});

describe('cpuPercentages', () => {
  const before = parseProcStat(STAT).cpus.total!;

  it('splits the time between two snapshots into user, system, iowait, idle and steal', () => {
    const after = { user: 150, nice: 20, system: 70, idle: 900, iowait: 30, irq: 10, softirq: 10, steal: 10 };
    // 200 ticks passed: user 50+10, system 20+5+5, iowait 10, idle 100.
    expect(cpuPercentages(before, after)).toEqual({ usage: 45, user: 30, system: 15, iowait: 5, idle: 50, steal: 0 });
  });

  it('gives nothing when no time passed or a counter went back (a reboot)', () => {
    expect(cpuPercentages(before, before)).toBeUndefined();
    expect(cpuPercentages(before, { ...before, user: 1, idle: 2000 })).toBeUndefined();
  });
});
