import { Router } from 'express';
import { discoverInstances, SERVICE_OPS_PORTS, type Health } from '@terminusa/runtime';
import type { Bus } from '@terminusa/bus';

/** `GET /health`: this gateway's dependencies and every service's live instances from discovery. */
export function healthRoutes(health: Health, bus: Bus): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    const [own, instances] = await Promise.all([health.report(), discoverInstances(bus.nc, bus.ns.prefix).catch(() => [])]);
    const services = Object.fromEntries(
      Object.keys(SERVICE_OPS_PORTS).map((name) => {
        const live = instances.filter((i) => i.service === name);
        return [name, { instances: live.length, status: live.length > 0 ? 'up' : 'down', live }];
      }),
    );
    const allUp = Object.values(services).every((s) => s.status === 'up');
    res.status(own.ready ? 200 : 503).json({
      status: !own.ready ? 'down' : allUp ? 'ok' : 'degraded',
      dependencies: own.checks,
      services,
    });
  });
  return router;
}
