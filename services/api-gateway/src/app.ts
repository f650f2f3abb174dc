import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import cors from 'cors';
import express, { Router, type Express } from 'express';
import helmet from 'helmet';
import type { Redis } from 'ioredis';
import type { Bus } from '@terminusa/bus';
import { publishedMessageLimits, type Config } from '@terminusa/config';
import type { HistoryQueryFn, RedisCurrentStore, SampleStore, VictoriaMetrics } from '@terminusa/metric-store';
import type { PgAlertStore, RedisAlertReader } from '@terminusa/alerting';
import type { Health, Logger } from '@terminusa/runtime';
import type { Registry } from 'prom-client';
import { DASHBOARD_DIR, dashboardBuilt } from '@terminusa/dashboard';
import type { PgAuditLog } from './audit-log.ts';
import type { ApiKeyCache } from './auth/api-key-cache.ts';
import { authenticator } from './auth/authenticate.ts';
import { addressKey, type LoginGuard } from './auth/login-guard.ts';
import type { TokenService } from './auth/tokens.ts';
import type { PgUserStore } from './auth/user-store.ts';
import type { ServiceCaller } from './http/call-service.ts';
import { admission, admissionOf } from './http/admission.ts';
import { sendProblem } from './http/problem.ts';
import { countedByBacklog, pushBackStatus, type GatewayRateLimits } from './http/rate-limit.ts';
import { errorHandler } from './http/request-errors.ts';
import { OTLP_METRICS_PATH } from './ingest/push-paths.ts';
import { mountRoutes, type Authenticate, type RouteSpec } from './http/route.ts';
import { alertRoutes } from './routes/alert-routes.ts';
import { authRoutes } from './routes/auth-routes.ts';
import { deadLetterRoutes } from './routes/dead-letter-routes.ts';
import { backupRoutes } from './routes/backup-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { ingestRoutes } from './routes/ingest-routes.ts';
import { ingestMetrics } from './ingest/ingest-metrics.ts';
import { PipelineBacklog } from './ingest/pipeline-backlog.ts';
import { SamplePublisher } from './ingest/sample-publisher.ts';
import { DecodingBudget } from './ingest/decoding-budget.ts';
import { metricsRoutes } from './routes/metrics-routes.ts';
import { PROMETHEUS_API_PREFIX, prometheusRoutes } from './prometheus/prometheus-routes.ts';
import { prometheusFallbacks } from './prometheus/prometheus-errors.ts';
import { userRoutes } from './routes/user-routes.ts';
import { docsRoutes } from './docs/docs-routes.ts';

/** What the gateway's routes read from and write to. */
export interface GatewayDeps {
  config: Readonly<Config>;
  bus: Bus;
  redis: Redis;
  health: Health;
  logger: Logger;
  history: Pick<SampleStore, 'names'>;
  current: RedisCurrentStore;
  /** History at the right tier (rollups, stitching); without it, raw points only. */
  historyQuery: HistoryQueryFn;
  alerts: RedisAlertReader;
  alertStore: PgAlertStore;
  users: PgUserStore;
  /** Verifies API keys from memory, listening to revocations; close it on shutdown. */
  apiKeys: ApiKeyCache;
  tokens: TokenService;
  guard: LoginGuard;
  /** The request limits, one set per gateway: its HTTP API and its live stream spend the same leases. */
  rateLimits: GatewayRateLimits;
  audit: PgAuditLog;
  calls: ServiceCaller;
  maxPoints: number;
  /** The engine of raw samples, which answers the Prometheus query API. */
  engine: VictoriaMetrics;
  /** Where the gateway's own metrics are registered; without it they are not recorded. */
  registry?: Registry;
}

/** Every route of the gateway, each with its access declared: the one table that routing, docs and tests read. */
export function gatewayRoutes(deps: GatewayDeps): RouteSpec[] {
  const routes: RouteSpec[] = [
    ...healthRoutes(deps.health, deps.bus),
    ...authRoutes({ users: deps.users, tokens: deps.tokens, guard: deps.guard, refreshWindow: deps.config.auth.refreshWindow, logger: deps.logger, audit: deps.audit.record }),
    ...metricsRoutes(deps),
    ...prometheusRoutes({ engine: deps.engine, settings: deps.config.gateway.promql }),
    ...alertRoutes({ bus: deps.bus, reader: deps.alerts, store: deps.alertStore, calls: deps.calls }),
    ...backupRoutes(deps.calls),
    ...deadLetterRoutes(deps.bus),
    ...userRoutes(deps.users, deps.audit, deps.tokens),
    ...ingestRoutes({
      publisher: new SamplePublisher(deps.bus, publishedMessageLimits(deps.config)),
      backlog: new PipelineBacklog(deps.bus, deps.config.ingest.maxBacklogMessages),
      metrics: ingestMetrics(deps.registry),
      maxRequestBytes: deps.config.ingest.maxRequestBytes,
      maxRequestSamples: deps.config.ingest.maxSamplesPerRequest,
      decoding: new DecodingBudget(deps.config.ingest.maxDecodingBytes),
      tagLimits: { maxTags: deps.config.ingest.maxTags, maxTagValueLength: deps.config.ingest.maxTagValueLength },
    }),
  ];
  // The API document describes this very table, its own routes included.
  routes.push(...docsRoutes(() => routes, resolve(deps.config.gateway.docsDir)));
  return routes;
}

/**
 * The web dashboard's static files at `/` (public: the sign-in page loads without a token; the data comes from the
 * API). Mounted after the API routes, so an API path always wins over a file name; pages are hash routes (`#/alerts`).
 */
function dashboardFiles(dir: string): Router {
  const files = Router();
  // The bundle has no inline scripts; uPlot sets element styles. No upgrade-insecure-requests: a gateway reached over
  // plain HTTP on a LAN address must still load its own assets.
  files.use(
    helmet.contentSecurityPolicy({
      useDefaults: false,
      directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", 'data:'], connectSrc: ["'self'"], objectSrc: ["'none'"], baseUri: ["'self'"], frameAncestors: ["'self'"], formAction: ["'self'"] },
    }),
  );
  // Middleware rather than a route: the route table (gatewayRoutes) stays the only place API routes are declared.
  files.use((req, res, next) =>
    (req.path === '/' || req.path === '/index.html') && (req.method === 'GET' || req.method === 'HEAD') && !dashboardBuilt(dir)
      ? sendProblem(res, 503, 'the dashboard is not built: run `pnpm build` (or `pnpm start`, which builds it)')
      : next(),
  );
  files.use(express.static(dir, { index: 'index.html', fallthrough: true }));
  return files;
}

/** The gateway's HTTP API: `/health` and login are public; every other route needs a token or API key with its role. */
export function createApp(deps: GatewayDeps, routes: readonly RouteSpec[] = gatewayRoutes(deps)): Express {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // No ETag on answers: each hashed its whole body (2–3 ms for a 650 KB history answer) for a revalidation no client
  // of live data asks for; the dashboard's static files keep theirs (express.static sets its own).
  app.set('etag', false);
  app.set('trust proxy', config.gateway.trustProxy);
  app.use((req, res, next) => {
    const id = /^[A-Za-z0-9._-]{1,100}$/.test(req.get('x-request-id') ?? '') ? req.get('x-request-id')! : randomUUID();
    res.locals.requestId = id;
    res.set('X-Request-Id', id);
    const started = performance.now();
    res.on('finish', () => logger.http('request', { requestId: id, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - started), address: req.ip }));
    next();
  });
  app.use(helmet());
  if (config.gateway.corsOrigins.length) app.use(cors({ origin: [...config.gateway.corsOrigins], credentials: false }));

  const { perAddress, perPrincipal, logins } = deps.rateLimits;
  app.use(admission({ tokens: deps.tokens, apiKeys: deps.apiKeys, perAddress, perPrincipal }));
  app.post('/auth/login', logins.middleware((r) => addressKey(r.ip ?? '')));
  // OTLP/HTTP reads its own raw body (JSON or protobuf, gzip or not), so the JSON parser leaves /v1/metrics alone.
  const json = express.json({ limit: config.ingest.maxMessageBytes });
  app.use((req, res, next) => (req.path === OTLP_METRICS_PATH ? next() : json(req, res, next)));
  // PromQL clients (Grafana) POST their parameters as a form; even a long list of match[] stays far below this.
  app.use(express.urlencoded({ extended: false, limit: '1mb' }));

  const identify = authenticator(deps.tokens, deps.users, deps.apiKeys);
  const authenticate: Authenticate = async (req, res) => {
    const { credential, principal: counted, marks } = admissionOf(res);
    const principal = await identify(req, res, credential, marks);
    // A pushing key's pushes are not counted (countedByBacklog), whether memory or the database verified it.
    if (!principal || (principal.kind === 'api-key' && countedByBacklog(req.path, principal.role))) return principal;
    return perPrincipal.admit(res, counted ?? (await perPrincipal.consume(principal.id)), pushBackStatus(req.path)) ? principal : undefined;
  };
  // Exact paths only: the checks above compare req.path exactly (the push-back status, the OTLP body), and Express
  // otherwise routes `/api/v1/write/` or `/V1/metrics` to the same handlers past them (a 429 a sender drops, a 500).
  const router = Router({ strict: true, caseSensitive: true });
  mountRoutes(router, routes, authenticate, deps.audit.record);
  app.use(router);
  app.use(dashboardFiles(DASHBOARD_DIR));

  const prometheus = prometheusFallbacks(logger);
  app.use(PROMETHEUS_API_PREFIX, prometheus.notFound);
  app.use((req, res) => sendProblem(res, 404, `no route ${req.method} ${req.path}`));
  app.use(PROMETHEUS_API_PREFIX, prometheus.failed);
  app.use(errorHandler(logger));
  return app;
}
