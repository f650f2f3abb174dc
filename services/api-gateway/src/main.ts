import { createServer } from 'node:http';
import { openDatabase } from '@terminusa/database';
import { openRedis, runService } from '@terminusa/runtime';
import { createApp } from './app.ts';
import { closeGatewayDeps, gatewayDeps, gatewayLiveStream } from './gateway-deps.ts';

await runService({
  name: 'api-gateway',
  description: 'the HTTP API of the suite for dashboards, scripts and game services',
  async start(ctx) {
    const { config, bus, logger, health, registry, onStop } = ctx;
    const pool = await openDatabase(config, 'api-gateway', ctx);
    const redis = await openRedis(ctx, 'api-gateway');

    const deps = await gatewayDeps({ config, pool, redis, bus, health, logger, registry });
    // Registered before the HTTP server so it stops after it (no more uses to mark) and before PostgreSQL closes.
    onStop('api keys', () => closeGatewayDeps(deps));
    // Reported, not needed for readiness: sign-in, the dashboard, alerts and pushes (remote_write, OTLP) need no engine,
    // and an engine restart made every gateway not ready, the Ingress answering 503 for all of them.
    health.add('engine', () => deps.engine.health(), { required: false });
    const app = createApp(deps);
    const server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.gateway.port, config.gateway.host, resolve);
    });
    const live = gatewayLiveStream(deps, app);
    await live.attach(server);
    logger.info('gateway listening', { port: config.gateway.port });
    onStop(
      'http server',
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    );
    // Registered after the HTTP server so it stops first: server.close() does not wait for upgraded sockets.
    onStop('live stream', () => live.close());
  },
});
