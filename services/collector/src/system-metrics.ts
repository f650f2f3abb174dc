import { loadavg, hostname } from 'node:os';
import si from 'systeminformation';
import type { IngestSample } from '@terminusa/bus';

// Pseudo file systems carry no disk usage worth alerting on.
const VIRTUAL_FS = /^(tmpfs|devtmpfs|overlay|squashfs|proc|sysfs|cgroup2?|nsfs|fuse\..*)$/;

/** This host's CPU, load, memory, disk use per mount and network bytes per interface, as samples tagged with `host`. */
export async function collectSystemMetrics(staticTags: Readonly<Record<string, string>>, now = Date.now()): Promise<IngestSample[]> {
  const host = { ...staticTags, host: staticTags.host ?? hostname() };
  const [load, mem, disks, nets] = await Promise.all([si.currentLoad(), si.mem(), si.fsSize(), si.networkStats('*')]);
  const samples: IngestSample[] = [];
  const add = (name: string, value: number, tags: Record<string, string> = {}) => {
    if (Number.isFinite(value)) samples.push({ name, value, ts: now, tags: { ...host, ...tags } });
  };

  add('system_cpu_usage_percent', load.currentLoad, { cpu: 'total' });
  load.cpus.forEach((cpu, i) => add('system_cpu_usage_percent', cpu.load, { cpu: String(i) }));
  const [l1, l5, l15] = loadavg();
  add('system_load1', l1!);
  add('system_load5', l5!);
  add('system_load15', l15!);

  add('system_memory_total_bytes', mem.total);
  add('system_memory_used_bytes', mem.active);
  add('system_memory_available_bytes', mem.available);
  add('system_memory_used_percent', (mem.active / mem.total) * 100);
  add('system_swap_total_bytes', mem.swaptotal);
  add('system_swap_used_bytes', mem.swapused);

  for (const disk of disks) {
    if (VIRTUAL_FS.test(disk.type)) continue;
    const tags = { mount: disk.mount, device: disk.fs };
    add('system_disk_size_bytes', disk.size, tags);
    add('system_disk_used_bytes', disk.used, tags);
    add('system_disk_used_percent', disk.use, tags);
  }

  for (const net of nets) {
    const tags = { interface: net.iface };
    add('system_network_receive_bytes_total', net.rx_bytes, tags);
    add('system_network_transmit_bytes_total', net.tx_bytes, tags);
  }
  return samples;
}
