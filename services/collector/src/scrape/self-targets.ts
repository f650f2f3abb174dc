import { hostname } from 'node:os';
import type { Bus } from '@terminusa/bus';
import { discoverInstances } from '@terminusa/runtime';
import type { ScrapeTarget } from './scrape-target.ts';

/**
 * Every live instance of the suite in the bus's namespace, as a target: its ops server's /metrics and /health, the
 * metrics shown `metricsToken` when one is set (the instances answer loopback only without it).
 */
export async function discoverSelfTargets(bus: Bus, namespace: string, metricsToken?: string): Promise<ScrapeTarget[]> {
  const local = hostname();
  return (await discoverInstances(bus.nc, namespace))
    .filter((instance) => instance.opsPort > 0 && instance.host !== '')
    .map((instance) => {
      // An instance on this machine is reached over loopback: its host name need not resolve (test hosts, some containers).
      const origin = `http://${instance.host === local ? '127.0.0.1' : instance.host}:${instance.opsPort}`;
      return { job: instance.service, url: `${origin}/metrics`, healthUrl: `${origin}/health`, tags: {}, ...(metricsToken ? { authorization: `Bearer ${metricsToken}` } : {}) };
    });
}
