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

/** Reads this host's CPU, disk I/O and network counters. */
export async function readHostCounters(): Promise<HostCounters> {
  const [cpu, fs, io, nets] = await Promise.all([readCpuTimes(), si.fsStats().catch(() => undefined), si.disksIO().catch(() => undefined), si.networkStats('*')]);
  const counters: HostCounters = { at: Date.now(), cpu, net: {} };
  if (fs && fs.rx != null && fs.wx != null) {
    counters.disk = { readBytes: fs.rx, writeBytes: fs.wx, ...(io && io.rIO != null && io.wIO != null ? { reads: io.rIO, writes: io.wIO } : {}) };
  }
  for (const net of nets) counters.net[net.iface] = { rxBytes: net.rx_bytes, txBytes: net.tx_bytes, rxErrors: net.rx_errors, txErrors: net.tx_errors };
  return counters;
}

/** Per-second rate of a counter between two readings; undefined when it went back (a reset) or no time passed. */
export function ratePerSecond(before: number | undefined, after: number | undefined, seconds: number): number | undefined {
  if (before === undefined || after === undefined || seconds <= 0 || after < before) return undefined;
  return (after - before) / seconds;
}
