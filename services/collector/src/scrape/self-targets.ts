import type { Bus } from '@terminusa/bus';
import { discoverInstances } from '@terminusa/runtime';
import type { ScrapeTarget } from './scrape-target.ts';

/**
 * Every live instance of the suite in the bus's namespace, as a target: its ops server's /metrics and /health, the
 * metrics shown `metricsToken` when one is set (the instances answer loopback only without it).
 */
export async function discoverSelfTargets(bus: Bus, namespace: string, metricsToken?: string): Promise<ScrapeTarget[]> {
  return (await discoverInstances(bus.nc, namespace))
    .filter((instance) => instance.opsPort > 0 && instance.host !== '')
    .map((instance) => {
      // Named by its host whichever replica discovers or scrapes it (its series keep one instance tag); a replica on
      // that host dials it over loopback, since the host name need not resolve there (test hosts, some containers).
      const origin = `http://${instance.host}:${instance.opsPort}`;
      return {
        job: instance.service,
        url: `${origin}/metrics`,
        healthUrl: `${origin}/health`,
        tags: {},
        loopbackOnOwnHost: true,
        ...(instance.address !== instance.host ? { dialAddress: instance.address } : {}),
        ...(metricsToken ? { authorization: `Bearer ${metricsToken}` } : {}),
      };
    });
}
