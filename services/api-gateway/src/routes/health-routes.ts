import { discoverInstances, SERVICE_OPS_PORTS, type Health } from '@terminusa/runtime';
import type { Bus } from '@terminusa/bus';
import { route, type RouteSpec } from '../http/route.ts';

/** `GET /health` (public, no secrets) and `GET /services` (discovered instances with their stats). */
export function healthRoutes(health: Health, bus: Bus): RouteSpec[] {
  const services = async () => {
    const instances = await discoverInstances(bus.nc, bus.ns.prefix).catch(() => []);
    return Object.fromEntries(
      Object.keys(SERVICE_OPS_PORTS).map((name) => {
        const live = instances.filter((i) => i.service === name);
        return [name, { instances: live.length, status: live.length > 0 ? 'up' : 'down', live }];
      }),
    );
  };
  return [
    route({
      method: 'get',
      path: '/health',
      access: 'public',
      tag: 'health',
      summary: "The gateway's dependencies and every service's live instances",
      responses: { 200: 'ready', 503: 'the gateway cannot serve' },
      async handle({ res }) {
        const [own, all] = await Promise.all([health.report(), services()]);
        const allUp = Object.values(all).every((s) => s.status === 'up');
        res.status(own.ready ? 200 : 503).json({ status: !own.ready ? 'down' : allUp ? 'ok' : 'degraded', dependencies: own.checks, services: all });
      },
    }),
    route({
      method: 'get',
      path: '/services',
      access: 'viewer',
      tag: 'health',
      summary: 'Instances discovered on NATS, with their endpoints and request statistics',
      async handle({ res }) {
        res.json({ services: await services() });
      },
    }),
  ];
}
