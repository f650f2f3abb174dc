import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

/** Cumulative time one CPU (or all of them) spent in each mode since boot, in the kernel's unit. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** CPU times keyed `total` and by core number, with the kernel's runnable and blocked process counts where known. */
export interface CpuSnapshot {
  cpus: Record<string, CpuTimes>;
  running?: number;
  blocked?: number;
}

/** Share of time per mode between two snapshots of one CPU, in percent. */
export interface CpuPercentages {
  /** Busy: everything but idle and iowait. */
  usage: number;
  user: number;
  system: number;
  iowait: number;
  idle: number;
  steal: number;
}

const MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

/** Reads the CPU lines of Linux's /proc/stat (`cpu` is the total, `cpuN` core N) and its procs_running/procs_blocked. */
export function parseProcStat(text: string): CpuSnapshot {
  const snapshot: CpuSnapshot = { cpus: {} };
  for (const line of text.split('\n')) {
    const [key, ...fields] = line.trim().split(/\s+/);
    if (key === 'procs_running') snapshot.running = Number(fields[0]);
    else if (key === 'procs_blocked') snapshot.blocked = Number(fields[0]);
    else if (key?.startsWith('cpu')) {
      const times = Object.fromEntries(MODES.map((mode, i) => [mode, Number(fields[i] ?? 0)])) as unknown as CpuTimes;
      snapshot.cpus[key === 'cpu' ? 'total' : key.slice(3)] = times;
    }
  }
  return snapshot;
}

/**
 * This host's CPU times: from /proc/stat on Linux, since Node's os.cpus() (and systeminformation's currentLoad,
 * built on it) leaves out iowait and steal; elsewhere from os.cpus(), without them.
 */
export async function readCpuTimes(): Promise<CpuSnapshot> {
  try {
    return parseProcStat(await readFile('/proc/stat', 'utf8'));
  } catch {
    const snapshot: CpuSnapshot = { cpus: {} };
    const total: CpuTimes = { user: 0, nice: 0, system: 0, idle: 0, iowait: 0, irq: 0, softirq: 0, steal: 0 };
    cpus().forEach((cpu, i) => {
      const t = { user: cpu.times.user, nice: cpu.times.nice, system: cpu.times.sys, idle: cpu.times.idle, iowait: 0, irq: cpu.times.irq, softirq: 0, steal: 0 };
      snapshot.cpus[String(i)] = t;
      for (const mode of MODES) total[mode] += t[mode];
    });
    snapshot.cpus.total = total;
    return snapshot;
  }
}

/** Percent of time per mode between two snapshots; undefined when no time passed or the counters went back (a reboot). */
export function cpuPercentages(before: CpuTimes, after: CpuTimes): CpuPercentages | undefined {
  const d = Object.fromEntries(MODES.map((mode) => [mode, after[mode] - before[mode]])) as unknown as CpuTimes;
  const total = MODES.reduce((sum, mode) => sum + d[mode], 0);
  if (total <= 0 || MODES.some((mode) => d[mode] < 0)) return undefined;
  const pct = (v: number) => (v * 100) / total;
  return {
    usage: pct(total - d.idle - d.iowait),
    user: pct(d.user + d.nice),
    system: pct(d.system + d.irq + d.softirq),
    iowait: pct(d.iowait),
    idle: pct(d.idle),
    steal: pct(d.steal),
  };
}
