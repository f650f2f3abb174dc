import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { PgSampleStore, RedisCurrentStore } from '@terminusa/metric-store';
import { PgAlertStore, RedisAlertReader } from '@terminusa/alerting';
import { createPool, ensureDatabase, migrate } from '@terminusa/database';
import { runService } from '@terminusa/runtime';
import { loadAdminAccount } from './auth/admin-account.ts';
import { TokenService } from './auth/tokens.ts';
import { createApp } from './app.ts';

/** Most points one history answer holds; a larger range is cut and marked `truncated`. */
const MAX_HISTORY_POINTS = 100_000;

await runService({
  name: 'api-gateway',
  description: 'the HTTP API of the suite for dashboards, scripts and game services',
  async start({ config, bus, logger, health, onStop }) {
    // The gateway reads history and current values straight from the stores (read-only) instead of asking the
    // storage service over NATS: one hop less on every dashboard query, and reads keep working while storage restarts.
    await ensureDatabase(config.database.url);
    const pool = createPool(config.database, 'terminusa-api-gateway');
    onStop('postgres', () => pool.end());
    await migrate(pool, config.database.schema);
    health.add('postgres', async () => void (await pool.query('SELECT 1')));

    const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    onStop('redis', () => void redis.disconnect());
    health.add('redis', async () => void (await redis.ping()));

    const app = createApp({
      bus,
      health,
      logger,
      history: new PgSampleStore(pool),
      current: new RedisCurrentStore(redis, config.redis.prefix, config.cache.metrics.ttl),
      alerts: new RedisAlertReader(redis, config.redis.prefix),
      alertStore: new PgAlertStore(pool),
      credentials: await loadAdminAccount(config, logger),
      tokens: await TokenService.fromConfig(config),
      maxBodyBytes: config.ingest.maxMessageBytes,
      maxPoints: MAX_HISTORY_POINTS,
      callTimeoutMs: config.core.timeout * 1000,
    });
    const server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.gateway.port, config.gateway.host, resolve);
    });
    logger.info('gateway listening', { port: config.gateway.port });
    onStop('http server', () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }));
  },
});
