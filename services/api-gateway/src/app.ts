import express, { type Express } from 'express';
import type { Bus } from '@terminusa/bus';
import type { PgSampleStore, RedisCurrentStore } from '@terminusa/metric-store';
import type { PgAlertStore, RedisAlertReader } from '@terminusa/alerting';
import type { Health, Logger } from '@terminusa/runtime';
import type { Credentials } from './auth/admin-account.ts';
import type { TokenService } from './auth/tokens.ts';
import { requireToken } from './auth/require-token.ts';
import { errorHandler } from './http/request-errors.ts';
import { authRoutes } from './routes/auth-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { metricsRoutes } from './routes/metrics-routes.ts';
import { backupRoutes } from './routes/backup-routes.ts';
import { alertRoutes } from './routes/alert-routes.ts';

/** What the gateway's routes read from and write to. */
export interface GatewayDeps {
  bus: Bus;
  health: Health;
  logger: Logger;
  history: PgSampleStore;
  current: RedisCurrentStore;
  alerts: RedisAlertReader;
  alertStore: PgAlertStore;
  credentials: Credentials;
  tokens: TokenService;
  maxBodyBytes: number;
  maxPoints: number;
  /** Milliseconds a call to a service behind the gateway may take (CORE_CONFIG timeout). */
  callTimeoutMs: number;
}

/** The gateway's HTTP API: `/health` and login are public, everything else needs a bearer token. */
export function createApp(deps: GatewayDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(express.json({ limit: deps.maxBodyBytes }));

  app.use(healthRoutes(deps.health, deps.bus));
  app.use(authRoutes(deps.credentials, deps.tokens));
  app.use(requireToken(deps.tokens));
  app.use(metricsRoutes(deps));
  app.use(alertRoutes({ bus: deps.bus, reader: deps.alerts, store: deps.alertStore, callTimeoutMs: deps.callTimeoutMs }));
  app.use(backupRoutes(deps.bus, deps.callTimeoutMs));

  app.use((_req, res) => void res.status(404).json({ error: 'not found' }));
  app.use(errorHandler(deps.logger));
  return app;
}
