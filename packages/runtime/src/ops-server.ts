import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Health } from './health.ts';
import { metricsAccess } from './metrics-access.ts';

/** The per-service ops HTTP server: `/health`, `/health/live`, `/health/ready` and `/metrics`. */
export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts the ops server; plain node:http keeps it independent of the service's own HTTP stack. The health paths are
 * public (probes carry no credentials), their checks' details only for those `/metrics` is for ({@link metricsAccess}).
 */
export async function startOpsServer(health: Health, registry: Registry, host: string, port: number, metricsToken?: string): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'application/json', '{"error":"method not allowed"}');
    if (path === '/health/live') return reply(200, 'application/json', '{"live":true}');
    const access = metricsAccess(metricsToken, req.socket.remoteAddress, req.headers.authorization);
    if (path === '/health' || path === '/health/ready') {
      // Its checks' errors name hosts and ports: whoever may not read the metrics gets the verdict alone.
      void health.report().then((report) => reply(report.ready ? 200 : 503, 'application/json', JSON.stringify(access.allowed ? report : { status: report.status, ready: report.ready })));
      return;
    }
    if (path === '/metrics') {
      if (!access.allowed) {
        if (access.status === 401) res.setHeader('www-authenticate', 'Bearer realm="metrics"');
        return reply(access.status, 'application/json', JSON.stringify({ error: access.reason }));
      }
      void registry.metrics().then((text) => reply(200, registry.contentType, text));
      return;
    }
    reply(404, 'application/json', '{"error":"not found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
