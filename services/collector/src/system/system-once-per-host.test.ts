import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import type { IngestSample } from '@terminusa/bus';
import { discoverInstances } from '@terminusa/runtime';
import { ingestBodySamples, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';

const INTERVAL_MS = 2000;

let ns: TestNamespace;
let nc: NatsConnection;
const replicas: ServiceProcess[] = [];
const system: IngestSample[] = [];

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  nc = await connect({ servers: ns.config.nats.url });
  nc.subscribe(`${ns.id}.metrics.ingest.collector`, {
    callback: (_err, msg) => system.push(...ingestBodySamples(msg.data)),
  });
  const env = { ...ns.env, OPS_PORT: '0', TMON_COLLECTION__MODE: 'all', TMON_COLLECTION__SCRAPE_SELF: 'false', TMON_COLLECTION__INTERVALS__SYSTEM: String(INTERVAL_MS / 1000) };
  for (let i = 0; i < 2; i++) replicas.push(startServiceProcess('collector', env));
  await waitFor(async () => ((await discoverInstances(nc, ns.id)).filter((i) => i.service === 'collector').length === 2 ? true : undefined), 60_000, 'two collector replicas', 250);
}, 90_000);

afterAll(async () => {
  for (const replica of replicas) replica.kill('SIGKILL');
  await nc?.close();
});

describe('system metrics with two replicas on one host', () => {
  it('are collected once per interval, by whichever replica takes the lock', async () => {
    // The first collections wait a second to prime their counters (no baseline yet), which can carry their
    // timestamps into the next interval; watch five whole intervals from the one after next.
    await waitFor(() => system.find((s) => s.name === 'system_load1'), 15_000, 'the first system collection');
    const from = (Math.floor(Date.now() / INTERVAL_MS) + 2) * INTERVAL_MS;
    const to = from + 5 * INTERVAL_MS;
    // The collection of the interval after `to`'s is the sentinel: a second replica's collection of a watched
    // interval, which would start at the same moment as the winner's, has arrived by the time it has.
    await waitFor(() => system.find((s) => s.name === 'system_load1' && s.ts! >= to + INTERVAL_MS), to + INTERVAL_MS - Date.now() + 20_000, 'the collection after the watched intervals');
    const loads = system.filter((s) => s.name === 'system_load1' && s.ts! >= from && s.ts! < to);
    const perInterval = new Map<number, number>();
    for (const s of loads) perInterval.set(Math.floor(s.ts! / INTERVAL_MS), (perInterval.get(Math.floor(s.ts! / INTERVAL_MS)) ?? 0) + 1);
    expect([...perInterval.values()], JSON.stringify(loads.map((s) => s.ts))).toEqual([1, 1, 1, 1, 1]);
    expect(loads.every((s) => s.tags?.host === hostname())).toBe(true);

    // Each collection is complete: CPU by mode, memory, disks, network rates, processes and uptime.
    const names = new Set(system.filter((s) => s.ts! >= from).map((s) => s.name));
    for (const name of ['system_cpu_usage_percent', 'system_cpu_user_percent', 'system_cpu_system_percent', 'system_cpu_iowait_percent', 'system_cpu_idle_percent',
      'system_load5', 'system_load15', 'system_memory_used_bytes', 'system_swap_total_bytes', 'system_disk_used_percent', 'system_network_receive_bytes_per_second',
      'system_network_transmit_errors_total', 'system_processes_total', 'system_uptime_seconds']) {
      expect(names, name).toContain(name);
    }
    const cpus = new Set(system.filter((s) => s.name === 'system_cpu_usage_percent' && s.ts! >= from).map((s) => s.tags!.cpu));
    expect(cpus).toContain('total');
    expect(cpus.size).toBeGreaterThan(1);
  }, 60_000);
});
