import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { PgAlertStore, RedisAlertReader } from '@terminusa/alerting';
import { openDatabase } from '@terminusa/database';
import { queryHistory, RedisCurrentStore, SampleStore, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import { runService } from '@terminusa/runtime';
import { PgAuditLog } from './audit-log.ts';
import { ensureFirstAdmin } from './auth/first-admin.ts';
import { LoginGuard } from './auth/login-guard.ts';
import { TokenService } from './auth/tokens.ts';
import { PgUserStore } from './auth/user-store.ts';
import { ServiceCaller } from './http/call-service.ts';
import { createApp } from './app.ts';
import { LiveStream } from './live/index.ts';

/** Most points one history answer holds; a larger range is cut and marked `truncated`. */
const MAX_HISTORY_POINTS = 100_000;

await runService({
  name: 'api-gateway',
  description: 'the HTTP API of the suite for dashboards, scripts and game services',
  async start({ config, bus, logger, health, registry, onStop }) {
    // The gateway reads history, current values and alerts straight from the stores instead of asking the
    // services over NATS: one hop less on every dashboard query, and reads keep working while they restart.
    const pool = await openDatabase(config, 'api-gateway', { health, onStop });

    const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    onStop('redis', () => void redis.disconnect());
    health.add('redis', async () => void (await redis.ping()));

    const engine = new VictoriaMetrics(config.storage.engine);
    health.add('engine', () => engine.health());
    const retention = tierRetentionMs(config);
    const users = new PgUserStore(pool);
    await ensureFirstAdmin(config, users, logger);
    const tokens = await TokenService.fromConfig(config, redis);
    const app = createApp({
      config,
      bus,
      redis,
      health,
      logger,
      history: new SampleStore(pool, engine),
      current: new RedisCurrentStore(redis, config.redis.prefix, config.cache.metrics.ttl),
      historyQuery: (q) => queryHistory({ pool, engine }, { ...q, retention }),
      alerts: new RedisAlertReader(redis, config.redis.prefix),
      alertStore: new PgAlertStore(pool),
      users,
      tokens,
      guard: new LoginGuard(redis, config.redis.prefix, config.auth.maxAttempts, config.auth.lockout),
      audit: new PgAuditLog(pool),
      calls: new ServiceCaller(bus, config.core.timeout * 1000),
      maxPoints: MAX_HISTORY_POINTS,
      engine,
      registry,
    });
    const server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.gateway.port, config.gateway.host, resolve);
    });
    const live = new LiveStream({ bus, tokens, users, logger, registry });
    live.attach(server);
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
