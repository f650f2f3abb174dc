import { readdir } from 'node:fs/promises';
import { loadavg, uptime } from 'node:os';
import si from 'systeminformation';
import type { IngestSample } from '@terminusa/bus';
import { boundedReading } from './bounded-reading.ts';
import { cpuPercentages } from './cpu-times.ts';
import { ratePerSecond, readHostCounters, type HostCounters } from './host-counters.ts';

// Pseudo file systems carry no disk usage worth alerting on.
const VIRTUAL_FS = /^(tmpfs|devtmpfs|overlay|squashfs|proc|sysfs|cgroup2?|nsfs|fuse\..*)$/;

/** How long disk use is waited for: a hung mount leaves the disk metrics out, not the rest of the collection. */
const DISK_USE_TIMEOUT_MS = 10_000;
const diskUse = boundedReading(() => si.fsSize(), DISK_USE_TIMEOUT_MS, []);

/** The samples of one collection, and the counters they were computed from (the baseline of the next collection). */
export interface SystemCollection {
  samples: IngestSample[];
  counters: HostCounters;
}

/**
 * This host's CPU (total and per core, by mode), load, memory and swap, disk use per mount, disk I/O, network
 * traffic and errors per interface, process count and uptime, as samples tagged with `tags` (which carry `host`).
 * CPU percentages and per-second rates are over the time since `baseline`; without one they are left out.
 */
export async function collectSystemMetrics(tags: Readonly<Record<string, string>>, baseline: HostCounters | undefined): Promise<SystemCollection> {
  const [counters, mem, disks, processes] = await Promise.all([readHostCounters(), si.mem(), diskUse(), countProcesses()]);
  const ts = counters.at;
  const samples: IngestSample[] = [];
  const add = (name: string, value: number | undefined, extra: Record<string, string> = {}) => {
    if (value !== undefined && Number.isFinite(value)) samples.push({ name, value, ts, tags: { ...tags, ...extra } });
  };

  if (baseline) {
    for (const [cpu, times] of Object.entries(counters.cpu.cpus)) {
      const before = baseline.cpu.cpus[cpu];
      const pct = before && cpuPercentages(before, times);
      if (!pct) continue;
      add('system_cpu_usage_percent', pct.usage, { cpu });
      add('system_cpu_user_percent', pct.user, { cpu });
      add('system_cpu_system_percent', pct.system, { cpu });
      add('system_cpu_iowait_percent', pct.iowait, { cpu });
      add('system_cpu_idle_percent', pct.idle, { cpu });
      add('system_cpu_steal_percent', pct.steal, { cpu });
    }
  }
  const [l1, l5, l15] = loadavg();
  add('system_load1', l1);
  add('system_load5', l5);
  add('system_load15', l15);

  add('system_memory_total_bytes', mem.total);
  add('system_memory_used_bytes', mem.active);
  add('system_memory_available_bytes', mem.available);
  add('system_memory_cached_bytes', mem.buffcache);
  add('system_memory_used_percent', (mem.active / mem.total) * 100);
  add('system_swap_total_bytes', mem.swaptotal);
  add('system_swap_used_bytes', mem.swapused);
  if (mem.swaptotal > 0) add('system_swap_used_percent', (mem.swapused / mem.swaptotal) * 100);

  for (const disk of disks) {
    if (VIRTUAL_FS.test(disk.type)) continue;
    const mount = { mount: disk.mount, device: disk.fs };
    add('system_disk_size_bytes', disk.size, mount);
    add('system_disk_used_bytes', disk.used, mount);
    add('system_disk_available_bytes', disk.available, mount);
    add('system_disk_used_percent', disk.use, mount);
  }

  const seconds = baseline ? (counters.at - baseline.at) / 1000 : 0;
  if (baseline?.disk && counters.disk) {
    add('system_disk_read_bytes_per_second', ratePerSecond(baseline.disk.readBytes, counters.disk.readBytes, seconds));
    add('system_disk_write_bytes_per_second', ratePerSecond(baseline.disk.writeBytes, counters.disk.writeBytes, seconds));
    add('system_disk_reads_per_second', ratePerSecond(baseline.disk.reads, counters.disk.reads, seconds));
    add('system_disk_writes_per_second', ratePerSecond(baseline.disk.writes, counters.disk.writes, seconds));
  }

  for (const [name, net] of Object.entries(counters.net)) {
    const iface = { interface: name };
    add('system_network_receive_bytes_total', net.rxBytes, iface);
    add('system_network_transmit_bytes_total', net.txBytes, iface);
    add('system_network_receive_errors_total', net.rxErrors, iface);
    add('system_network_transmit_errors_total', net.txErrors, iface);
    const before = baseline?.net[name];
    if (!before) continue;
    add('system_network_receive_bytes_per_second', ratePerSecond(before.rxBytes, net.rxBytes, seconds), iface);
    add('system_network_transmit_bytes_per_second', ratePerSecond(before.txBytes, net.txBytes, seconds), iface);
    add('system_network_receive_errors_per_second', ratePerSecond(before.rxErrors, net.rxErrors, seconds), iface);
    add('system_network_transmit_errors_per_second', ratePerSecond(before.txErrors, net.txErrors, seconds), iface);
  }

  add('system_processes_total', processes);
  add('system_processes_running', counters.cpu.running);
  add('system_processes_blocked', counters.cpu.blocked);
  add('system_uptime_seconds', uptime());
  return { samples, counters };
}

/** Processes on this host: the numeric entries of /proc on Linux (cheap), else systeminformation's process list. */
async function countProcesses(): Promise<number | undefined> {
  try {
    return (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).length;
  } catch {
    return (await si.processes().catch(() => undefined))?.all;
  }
}
