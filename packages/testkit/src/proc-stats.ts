/**
 * CPU time and memory of processes from /proc (Linux), for the benches.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`, 100 on every Linux we run on). */
const CLK_TCK = 100;

/** utime + stime of a process in seconds, or undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "pid (comm) ": state is the first; utime and stime are fields 14 and 15 of the whole line.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM (peak RSS) of a process in MiB, or undefined when it is gone. */
export function memoryMiB(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Pids of every process whose command name (/proc/<pid>/comm) is `comm`. */
export function pidsByComm(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // The process ended while we listed it.
    }
  }
  return pids;
}

/** Busy and total jiffies of the whole machine (/proc/stat), for its overall CPU use. */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = line.reduce((s, v) => s + v, 0);
  const idle = (line[3] ?? 0) + (line[4] ?? 0);
  return { busy: total - idle, total };
}

/** A group of processes whose CPU time is summed: a fixed pid, or every process of a command name. */
export interface CpuGroup {
  label: string;
  pids: () => number[];
}

/** CPU use of each group over a window, in % of one core (200 % = both cores of a 2-core machine). */
export interface CpuReport {
  seconds: number;
  groups: { label: string; percent: number }[];
  /** Whole-machine use in % of all cores, and the core count. */
  machinePercent: number;
  cores: number;
  /** The busiest processes outside every group (other work sharing the machine), busiest first. */
  others: { pid: number; name: string; percent: number }[];
}

/** Command line of a process, shortened, for naming it in a report. */
function commandLine(pid: number): string {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    if (args.length === 0) return `pid ${pid}`;
    // "node --require … --import … tests/bench/y.ts": the program and its last argument say what it is.
    const line = args.length > 2 ? `${args[0]} … ${args.slice(-2).join(' ')}` : args.join(' ');
    return `${line.length > 100 ? `…${line.slice(-99)}` : line} (pid ${pid})`;
  } catch {
    return `pid ${pid}`;
  }
}

/**
 * Samples the CPU time of groups of processes every `intervalMs` until stopped. A process that appears between
 * two samples (a new PostgreSQL backend) is counted from its start; one that ends loses its last interval.
 */
export class CpuSampler {
  private readonly last = new Map<number, number>();
  private readonly used = new Map<string, number>();
  private readonly otherUsed = new Map<number, number>();
  private readonly otherNames = new Map<number, string>();
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();
  private readonly machineStart = machineJiffies();
  private first = true;

  /** `describe` may name a process better than its command line (e.g. a PostgreSQL backend by its client). */
  constructor(
    private readonly groups: readonly CpuGroup[],
    intervalMs = 1000,
    private readonly describe: (pid: number) => string | undefined = () => undefined,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private delta(pid: number): number | undefined {
    const now = cpuSeconds(pid);
    if (now === undefined) return undefined;
    const before = this.last.get(pid) ?? (this.first ? now : 0);
    this.last.set(pid, now);
    return now - before;
  }

  private sample(): void {
    const grouped = new Set<number>();
    for (const group of this.groups) {
      for (const pid of group.pids()) {
        grouped.add(pid);
        const d = this.delta(pid);
        if (d !== undefined) this.used.set(group.label, (this.used.get(group.label) ?? 0) + d);
      }
    }
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || grouped.has(Number(entry))) continue;
      const pid = Number(entry);
      const d = this.delta(pid);
      if (d === undefined || (d === 0 && !this.otherUsed.has(pid))) continue;
      this.otherUsed.set(pid, (this.otherUsed.get(pid) ?? 0) + d);
      if (!this.otherNames.has(pid) || d > 0) this.otherNames.set(pid, this.describe(pid) ?? this.otherNames.get(pid) ?? commandLine(pid));
    }
    this.first = false;
  }

  /** Stops sampling and reports the use since construction. */
  stop(): CpuReport {
    clearInterval(this.timer);
    this.sample();
    const seconds = (performance.now() - this.started) / 1000;
    const machine = machineJiffies();
    const cores = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l)).length;
    return {
      seconds,
      groups: this.groups.map((g) => ({ label: g.label, percent: (100 * (this.used.get(g.label) ?? 0)) / seconds })),
      machinePercent: (100 * (machine.busy - this.machineStart.busy)) / Math.max(1, machine.total - this.machineStart.total),
      cores,
      others: [...this.otherUsed]
        .map(([pid, used]) => ({ pid, name: this.otherNames.get(pid) ?? `pid ${pid}`, percent: (100 * used) / seconds }))
        .sort((a, b) => b.percent - a.percent)
        .slice(0, 5),
    };
  }
}
