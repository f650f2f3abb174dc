import type { Express } from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { PgAlertStore, RedisAlertReader } from '@terminusa/alerting';
import type { Bus } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import { queryHistory, RedisCurrentStore, SampleStore, tierRetentionMs, VictoriaMetrics } from '@terminusa/metric-store';
import type { Health, Logger } from '@terminusa/runtime';
import type { GatewayDeps } from './app.ts';
import { PgAuditLog } from './audit-log.ts';
import { ApiKeyCache } from './auth/api-key-cache.ts';
import { ensureFirstAdmin } from './auth/first-admin.ts';
import { LoginGuard } from './auth/login-guard.ts';
import { TokenService } from './auth/tokens.ts';
import { PgUserStore } from './auth/user-store.ts';
import { ServiceCaller } from './http/call-service.ts';
import { clientAddressOf } from './http/client-address.ts';
import { gatewayRateLimits } from './http/rate-limit.ts';
import { LiveStream } from './live/index.ts';

/** Most points one history answer holds; a larger range is cut and marked `truncated`. */
export const MAX_HISTORY_POINTS = 100_000;

/** The clients the gateway's stores are built on. */
export interface GatewayClients {
  config: Readonly<Config>;
  pool: pg.Pool;
  redis: Redis;
  bus: Bus;
  health: Health;
  logger: Logger;
  registry?: Registry;
}

/**
 * Everything the gateway's routes read from and write to, built from its clients (and the first admin made
 * when there is none), with the API key cache listening to revocations (stopped by {@link closeGatewayDeps}):
 * main.ts and the gateway's tests build it alike. The gateway reads history, current values and alerts straight
 * from the stores instead of asking the services over NATS: one hop less on every dashboard query, and reads keep
 * working while they restart.
 */
export async function gatewayDeps(clients: GatewayClients, limits: { maxPoints?: number; callTimeoutMs?: number } = {}): Promise<GatewayDeps> {
  const { config, pool, redis, bus, logger } = clients;
  const engine = new VictoriaMetrics(config.storage.engine);
  const retention = tierRetentionMs(config);
  const users = new PgUserStore(pool, { logger });
  await ensureFirstAdmin(config, users, logger);
  const tokens = await TokenService.fromConfig(config, redis);
  const apiKeys = new ApiKeyCache(users);
  await apiKeys.listen(tokens.revocations, (error) => logger.warn('API key cache skipped an invalid revocation event', { error }));
  return {
    ...clients,
    engine,
    history: new SampleStore(pool, engine),
    current: new RedisCurrentStore(redis, config.redis.prefix, config.cache.metrics.ttl, config.cache.metrics.ttl * 1000),
    historyQuery: (q) => queryHistory({ pool, engine }, { ...q, retention }),
    alerts: new RedisAlertReader(redis, config.redis.prefix),
    alertStore: new PgAlertStore(pool),
    users,
    apiKeys,
    tokens,
    rateLimits: gatewayRateLimits(redis, config.redis.prefix, config.gateway.rateLimit),
    guard: new LoginGuard(redis, config.redis.prefix, { maxAttempts: config.auth.maxAttempts, maxAttemptsPerAddress: config.auth.maxAttemptsPerAddress, lockoutSeconds: config.auth.lockout }),
    audit: new PgAuditLog(pool),
    calls: new ServiceCaller(bus, limits.callTimeoutMs ?? config.core.timeout * 1000),
    maxPoints: limits.maxPoints ?? MAX_HISTORY_POINTS,
  };
}

/** Stops the API key cache's subscription and writes the pending last uses of API keys; before the pool ends. */
export async function closeGatewayDeps(deps: Pick<GatewayDeps, 'apiKeys' | 'users'>): Promise<void> {
  await deps.apiKeys.close();
  await deps.users.close();
}

/**
 * The live stream (`GET /ws`) of a gateway whose HTTP API is `app`, with gateway.live's limits; its upgrades count
 * against the same per-address limit as the API's requests (the same Redis counter), by the address `app` sees.
 * Attach it to the server that serves `app`.
 */
export function gatewayLiveStream(deps: GatewayDeps, app: Express): LiveStream {
  const { config } = deps;
  return new LiveStream({
    bus: deps.bus,
    tokens: deps.tokens,
    users: deps.users,
    logger: deps.logger,
    ...(deps.registry ? { registry: deps.registry } : {}),
    maxConnections: config.gateway.live.maxConnections,
    maxConnectionsPerPrincipal: config.gateway.live.maxConnectionsPerPrincipal,
    maxUnauthenticatedPerAddress: config.gateway.live.maxUnauthenticatedPerAddress,
    recheckMs: config.gateway.live.recheckInterval * 1000,
    addressLimit: deps.rateLimits.perAddress,
    clientAddress: clientAddressOf(app),
  });
}
