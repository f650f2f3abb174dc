import si from 'systeminformation';
import { readCpuTimes, type CpuSnapshot } from './cpu-times.ts';

/** Cumulative counters of one network interface. */
export interface InterfaceCounters {
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
}

/** This host's cumulative counters at one moment; rates are their differences between two readings. */
export interface HostCounters {
  /** Epoch ms of the reading. */
  at: number;
  cpu: CpuSnapshot;
  /** Bytes and operations read and written by all disks; absent where the platform does not say. */
  disk?: { readBytes: number; writeBytes: number; reads?: number; writes?: number };
  net: Record<string, InterfaceCounters>;
}

/**
 * Whether an interface is one end of a container's or a VM's link (`veth*`, Calico's `cali*`, Cilium's `lxc*`,
 * `tap*`), made and removed with each pod: on a node's network (the Kubernetes node collector) each came and went as
 * eight series, stale-marked at every pod's end. The node's own interfaces and bridges (`eth0`, `cni0`, `docker0`)
 * stay.
 */
export function isContainerLink(name: string): boolean {
  return /^(veth|cali|lxc|tap)/.test(name);
}

/** Reads this host's CPU, disk I/O and network counters. */
export async function readHostCounters(): Promise<HostCounters> {
  const [cpu, fs, io, nets] = await Promise.all([readCpuTimes(), si.fsStats().catch(() => undefined), si.disksIO().catch(() => undefined), si.networkStats('*')]);
  const counters: HostCounters = { at: Date.now(), cpu, net: {} };
  if (fs && fs.rx != null && fs.wx != null) {
    counters.disk = { readBytes: fs.rx, writeBytes: fs.wx, ...(io && io.rIO != null && io.wIO != null ? { reads: io.rIO, writes: io.wIO } : {}) };
  }
  for (const net of nets) if (!isContainerLink(net.iface)) counters.net[net.iface] = { rxBytes: net.rx_bytes, txBytes: net.tx_bytes, rxErrors: net.rx_errors, txErrors: net.tx_errors };
  return counters;
}

/** Per-second rate of a counter between two readings; undefined when it went back (a reset) or no time passed. */
export function ratePerSecond(before: number | undefined, after: number | undefined, seconds: number): number | undefined {
  if (before === undefined || after === undefined || seconds <= 0 || after < before) return undefined;
  return (after - before) / seconds;
}
