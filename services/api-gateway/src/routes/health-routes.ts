import { discoverInstances, SERVICE_OPS_PORTS, type Health } from '@terminusa/runtime';
import type { Bus } from '@terminusa/bus';
import { route, type RouteSpec } from '../http/route.ts';
import { RecentlyUp } from './recently-up.ts';

/** How long one health report is reused: a flood of anonymous `/health` requests runs the checks once a second. */
const REPORT_REUSE_MS = 1000;

/**
 * `GET /health` (public: up, degraded or down, and nothing else), `GET /health/details` (the gateway's
 * dependencies with their errors, and every service's live instances with their hosts: for viewers) and
 * `GET /services` (discovered instances with their stats).
 */
export function healthRoutes(health: Health, bus: Bus): RouteSpec[] {
  const recently = new RecentlyUp();
  const services = async () => {
    const instances = await discoverInstances(bus.nc, bus.ns.prefix).catch(() => []);
    return Object.fromEntries(
      Object.keys(SERVICE_OPS_PORTS).map((name) => {
        const live = instances.filter((i) => i.service === name);
        return [name, { instances: live.length, status: live.length > 0 ? 'up' : 'down', live }];
      }),
    );
  };
  const report = async () => {
    const [own, all] = await Promise.all([health.report(), services()]);
    const allUp = recently.allUp(Object.keys(all).filter((name) => all[name]!.status === 'up'), Object.keys(all));
    return { ready: own.ready, status: !own.ready ? 'down' : allUp ? 'ok' : 'degraded', dependencies: own.checks, services: all };
  };
  type Report = Awaited<ReturnType<typeof report>>;
  let last: { at: number; report: Promise<Report> } | undefined;
  let finished: { at: number; report: Report } | undefined;
  /** The report made at most a second ago, or a new one. */
  const current = (): Promise<Report> => {
    if (!last || Date.now() - last.at >= REPORT_REUSE_MS) {
      const at = Date.now();
      const next = report();
      last = { at, report: next };
      next.then((r) => (finished = { at, report: r })).catch(() => undefined);
    }
    return last.report;
  };
  /**
   * For the public probe: while a new report is made, the one finished before it if it began at most two seconds
   * ago. Discovery waits for every instance's answer (about 150 ms), which would otherwise fall on one probe a second.
   */
  const quick = (): Promise<Report> | Report => {
    const next = current();
    return finished && Date.now() - finished.at < 2 * REPORT_REUSE_MS ? finished.report : next;
  };
  return [
    route({
      method: 'get',
      path: '/health',
      access: 'public',
      tag: 'health',
      summary: 'Whether the suite is up (ok), partly up (degraded) or the gateway cannot serve (down); details need a token',
      responses: { 200: 'ok or degraded', 503: 'the gateway cannot serve' },
      async handle({ res }) {
        const { ready, status } = await quick();
        res.status(ready ? 200 : 503).json({ status });
      },
    }),
    route({
      method: 'get',
      path: '/health/details',
      access: 'viewer',
      tag: 'health',
      summary: "The gateway's dependencies (with their errors) and every service's live instances",
      responses: { 200: 'ready', 503: 'the gateway cannot serve' },
      async handle({ res }) {
        const { ready, ...details } = await current();
        res.status(ready ? 200 : 503).json(details);
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
