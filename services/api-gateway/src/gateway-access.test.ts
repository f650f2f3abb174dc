import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { connect, type NatsConnection } from 'nats';
import type pg from 'pg';
import { Bus, ensureStreams } from '@terminusa/bus';
import { loadConfig, type Config } from '@terminusa/config';
import { createPool, migrate } from '@terminusa/database';
import { createLogger, Health } from '@terminusa/runtime';
import { createTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';
import { gatewayDeps } from './gateway-deps.ts';
import { createApp, gatewayRoutes, type GatewayDeps } from './app.ts';
import type { RouteSpec } from './http/route.ts';
import { ROLES, type Role } from './auth/principal.ts';

const JWT_SECRET = 'a-test-secret-of-at-least-32-characters!!';
const ADMIN_PASSWORD = 'gateway-access-admin-pw';
let ns: TestNamespace;
let pool: pg.Pool;
let redis: Redis;
let nc: NatsConnection;
const servers: Server[] = [];

/** A gateway app on a free port, built as main.ts builds it, with settings overridden. */
async function startGateway(overrides: Record<string, unknown> = {}): Promise<{ base: string; deps: GatewayDeps; config: Readonly<Config> }> {
  const config = loadConfig({ env: { ...ns.env, ADMIN_PASSWORD, JWT_SECRET, LOG_LEVEL: 'error' }, overrides: { gateway: { rateLimit: { perPrincipal: 100_000, perAddress: 100_000, loginPerMinute: 100_000 } }, ...overrides } });
  const logger = createLogger(config.log, { service: 'api-gateway', instance: 'test' });
  const health = new Health('api-gateway', 'test');
  health.setReady(true);
  const deps = await gatewayDeps({ config, pool, redis, bus: new Bus(nc, config.nats.prefix), health, logger }, { maxPoints: 1000, callTimeoutMs: 500 });
  const server = createApp(deps).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, deps, config };
}

async function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${base}${path}`, {
    method: method.toUpperCase(),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text && /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text, headers: res.headers };
}

async function login(base: string, username: string, password: string): Promise<string> {
  const res = await call(base, 'post', '/auth/login', undefined, { username, password });
  expect(res.status).toBe(200);
  return res.body.token;
}

/** A concrete path for a route, with plausible values in its parameters. */
function concretePath(path: string): string {
  return path.replace(':id', path.startsWith('/api-keys') ? 'abcdefabcdef' : path.startsWith('/backups') ? 'no-such-backup' : randomUUID()).replace(':name', 'NoSuchRule').replace(':page', 'setup');
}

let main: Awaited<ReturnType<typeof startGateway>>;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  ns = await createTestNamespace();
  pool = createPool(ns.config.database, 'gateway-test');
  await migrate(pool, ns.config.database.schema);
  redis = new Redis(ns.config.redis.url);
  nc = await connect({ servers: ns.config.nats.url });
  await ensureStreams(await nc.jetstreamManager(), new Bus(nc, ns.config.nats.prefix).ns);
  main = await startGateway();
  tokens.admin = await login(main.base, 'admin', ADMIN_PASSWORD);
  for (const role of ['viewer', 'operator']) {
    expect((await call(main.base, 'post', '/users', tokens.admin, { username: `${role}-user`, password: `${role}-password-123`, role })).status).toBe(201);
    tokens[role] = await login(main.base, `${role}-user`, `${role}-password-123`);
  }
  tokens.producer = (await call(main.base, 'post', '/api-keys', tokens.admin, { name: 'game-producer', role: 'producer' })).body.secret;
});
afterAll(async () => {
  for (const s of servers) s.close();
  await pool.end();
  redis.disconnect();
  await nc.close();
  await ns.cleanup();
});

describe('the route table', () => {
  it('is the only source of routes: every mounted route is declared with its access', () => {
    const routes = gatewayRoutes(main.deps);
    const declared = new Set(routes.map((r) => `${r.method.toUpperCase()} ${r.path}`));
    const app = createApp(main.deps, routes) as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: unknown[] } }[] } };
    const mounted: string[] = [];
    const walk = (stack: { route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: unknown[] } }[]) => {
      for (const layer of stack) {
        if (layer.route) for (const m of Object.keys(layer.route.methods)) mounted.push(`${m.toUpperCase()} ${layer.route.path}`);
        else if (Array.isArray(layer.handle.stack)) walk(layer.handle.stack as typeof stack);
      }
    };
    walk(app.router.stack);
    expect(mounted.length).toBeGreaterThanOrEqual(routes.length);
    for (const m of mounted) expect(declared, `${m} is mounted without a declaration`).toContain(m);
    for (const r of routes) expect(['public', 'producer', 'viewer', 'operator', 'admin']).toContain(r.access);
    expect(routes.filter((r) => r.access === 'public').map((r) => r.path).sort()).toEqual(['/auth/login', '/health']);
  });

  it('answers each route by role: no token, expired, foreign key and alg:none are 401; lower roles 403; enough role passes', async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('terminusa-monitoring').setSubject('admin').setJti(randomUUID()).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(key);
    const foreign = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('terminusa-monitoring').setSubject('admin').setJti(randomUUID()).setIssuedAt(now).setExpirationTime(now + 600).sign(new TextEncoder().encode('another-secret-another-secret-another!!'));
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ role: 'admin', sub: 'admin', iss: 'terminusa-monitoring', jti: randomUUID(), exp: now + 600 })).toString('base64url')}.`;
    const routes: RouteSpec[] = gatewayRoutes(main.deps).filter((r) => r.access !== 'public' && r.path !== '/auth/logout');
    for (const r of routes) {
      const path = concretePath(r.path);
      const body = r.method === 'get' ? undefined : {};
      for (const bad of [undefined, expired, foreign, unsigned]) expect((await call(main.base, r.method, path, bad, body)).status, `${r.method} ${r.path} with a bad token`).toBe(401);
      for (const role of ROLES) {
        const res = await call(main.base, r.method, path, tokens[role], body);
        // The producer role may only push samples; the others read from viewer up (operators and admins push too).
        const allowed = role === 'producer' ? r.access === 'producer' : r.access === 'producer' ? role !== 'viewer' : ROLES.indexOf(role) >= ROLES.indexOf(r.access as Role);
        if (allowed) expect([401, 403], `${role} on ${r.method} ${r.path}: ${res.status}`).not.toContain(res.status);
        else expect(res.status, `${role} on ${r.method} ${r.path}`).toBe(403);
        // The Prometheus API answers its own failures (not 401/403) in Prometheus' error shape, which its clients read.
        const promError = r.tag === 'prometheus' && ![401, 403].includes(res.status);
        const shape = promError ? { status: 'error', errorType: expect.any(String), error: expect.any(String) } : { status: res.status, title: expect.any(String), detail: expect.any(String) };
        if (res.status >= 400 && res.status !== 404) expect(res.body, `${r.method} ${r.path}`).toMatchObject(shape);
      }
    }
  }, 60_000);
});

describe('sign-in', () => {
  it('locks a user out after 5 failures, answers 429 with Retry-After, and releases after the cool-down', async () => {
    const gw = await startGateway({ auth: { lockout: 2 } });
    await call(gw.base, 'post', '/users', tokens.admin, { username: 'lock-me', password: 'lock-me-password', role: 'viewer' });
    for (let i = 0; i < 5; i++) expect((await call(gw.base, 'post', '/auth/login', undefined, { username: 'lock-me', password: 'wrong' })).status).toBe(401);
    const refused = await call(gw.base, 'post', '/auth/login', undefined, { username: 'lock-me', password: 'lock-me-password' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 2200));
    expect((await call(gw.base, 'post', '/auth/login', undefined, { username: 'lock-me', password: 'lock-me-password' })).status).toBe(200);
  });

  it('refreshes only inside the refresh window, and revokes the old token', async () => {
    expect((await call(main.base, 'post', '/auth/refresh', tokens.viewer)).status).toBe(409);
    const short = await startGateway({ auth: { tokenExpiry: 200 } });
    const old = await login(short.base, 'viewer-user', 'viewer-password-123');
    const refreshed = await call(short.base, 'post', '/auth/refresh', old);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.token).not.toBe(old);
    expect((await call(short.base, 'get', '/rules', old)).status).toBe(401);
    expect((await call(short.base, 'get', '/rules', refreshed.body.token)).status).toBe(200);
  });

  it('revokes a token on logout, across replicas', async () => {
    const token = await login(main.base, 'viewer-user', 'viewer-password-123');
    const other = await startGateway();
    expect((await call(other.base, 'get', '/rules', token)).status).toBe(200);
    expect((await call(main.base, 'post', '/auth/logout', token)).status).toBe(204);
    expect((await call(other.base, 'get', '/rules', token)).status).toBe(401);
  });

  it('stops a disabled user within seconds and lets admins change roles and reset passwords', async () => {
    const created = await call(main.base, 'post', '/users', tokens.admin, { username: 'temp-user', password: 'temp-user-password', role: 'operator' });
    const token = await login(main.base, 'temp-user', 'temp-user-password');
    expect((await call(main.base, 'patch', `/users/${created.body.user.id}`, tokens.admin, { role: 'viewer' })).body.user.role).toBe('viewer');
    expect((await call(main.base, 'patch', `/users/${created.body.user.id}`, tokens.admin, { password: 'a-new-password-1' })).status).toBe(200);
    expect((await call(main.base, 'post', '/auth/login', undefined, { username: 'temp-user', password: 'temp-user-password' })).status).toBe(401);
    await login(main.base, 'temp-user', 'a-new-password-1');
    await call(main.base, 'patch', `/users/${created.body.user.id}`, tokens.admin, { disabled: true });
    await waitFor(async () => ((await call(main.base, 'get', '/rules', token)).status === 401 ? true : undefined), 8000, 'disabled user refused', 250);
    expect((await call(main.base, 'post', '/auth/login', undefined, { username: 'temp-user', password: 'a-new-password-1' })).status).toBe(401);
  });
});

describe('API keys', () => {
  it('are shown once, work with their role, and stop working when revoked', async () => {
    const op = await call(main.base, 'post', '/api-keys', tokens.admin, { name: 'game-server-eu', role: 'operator' });
    expect(op.status).toBe(201);
    expect(op.body.secret).toMatch(/^tmk_/);
    const viewerKey = (await call(main.base, 'post', '/api-keys', tokens.admin, { name: 'grafana', role: 'viewer' })).body.secret;
    const listed = await call(main.base, 'get', '/api-keys', tokens.admin);
    // The secret part (base64url, so it may hold '_' itself) follows `tmk_<12-char id>_`.
    expect(JSON.stringify(listed.body)).not.toContain(/^tmk_[a-z0-9]{12}_(.{43})$/.exec(op.body.secret)![1]);
    const push = { samples: [{ name: 'players_online', value: 5 }] };
    expect((await call(main.base, 'post', '/metrics/custom', op.body.secret, push)).status).toBe(202);
    expect((await call(main.base, 'post', '/metrics/custom', viewerKey, push)).status).toBe(403);
    expect((await call(main.base, 'get', '/metrics/current?name=players_online', viewerKey)).status).toBe(200);
    const res = await fetch(`${main.base}/rules`, { headers: { 'x-api-key': viewerKey } });
    expect(res.status).toBe(200);
    expect((await call(main.base, 'delete', `/api-keys/${op.body.apiKey.id}`, tokens.admin)).status).toBe(204);
    expect((await call(main.base, 'post', '/metrics/custom', op.body.secret, push)).status).toBe(401);
  });
});

describe('rate limits', () => {
  it('hold across two gateway replicas sharing Redis, with Retry-After and RateLimit headers', async () => {
    const a = await startGateway({ gateway: { rateLimit: { perPrincipal: 5, perAddress: 100_000, loginPerMinute: 100 } } });
    const b = await startGateway({ gateway: { rateLimit: { perPrincipal: 5, perAddress: 100_000, loginPerMinute: 100 } } });
    const token = await login(a.base, 'viewer-user', 'viewer-password-123');
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i % 2 ? a.base : b.base, 'get', '/rules', token)));
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(4);
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(6);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(limited[0]!.headers.get('ratelimit-limit')).toBe('5');
    expect(results.find((r) => r.status === 200)!.headers.get('ratelimit-remaining')).not.toBeNull();
  });
});

describe('hostile input', () => {
  it('is refused with 400 naming the field, and nothing is published', async () => {
    const jsm = await nc.jetstreamManager();
    const ingest = `${ns.id}_INGEST`;
    const before = (await jsm.streams.info(ingest)).state.messages;
    const cases: [string, string, unknown, string][] = [
      ['get', "/metrics/current?name=x';DROP TABLE samples;--", undefined, 'name'],
      ['get', '/metrics/current?name=ok&tag.b%27ad=1', undefined, "b'ad"],
      ['get', '/metrics/history?name=x&from=1e999999', undefined, 'from'],
      ['post', '/metrics/custom', '{"samples":[{"name":"x","value":1e309}]}', 'samples[0].value'],
      ['post', '/metrics/custom', { samples: [{ name: 'x\u0000y', value: 1 }] }, 'samples[0].name'],
      ['post', '/metrics/custom', `${'['.repeat(5000)}${']'.repeat(5000)}`, '(message)'],
      ['post', '/metrics/custom?source=../../etc', { samples: [{ name: 'x', value: 1 }] }, 'source'],
      ['post', '/backups/..%2F..%2Fetc%2Fpasswd/verify', {}, 'id'],
      ['delete', '/rules/..%2F..', undefined, 'name'],
      ['post', '/alerts/1%20OR%201=1/ack', {}, 'id'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await call(main.base, method, path, tokens.admin, body);
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(JSON.stringify(res.body.fields ?? []), `${method} ${path}`).toContain(field);
    }
    const unicode = await call(main.base, 'post', '/metrics/custom', tokens.admin, { samples: [{ name: 'players_online', value: 1, tags: { region: 'ευρώπη 🐉' } }] });
    expect(unicode.status).toBe(202);
    expect((await jsm.streams.info(ingest)).state.messages).toBe(before + 1);
  });
});

describe('the audit log', () => {
  it('records writes and logins with who, what and from where, for admins only', async () => {
    const { body } = await call(main.base, 'get', '/audit?limit=500', tokens.admin);
    const actions = body.entries.map((e: any) => `${e.actor}:${e.action}`);
    expect(actions).toEqual(expect.arrayContaining(['admin:login', 'admin:user-create', 'admin:api-key-create', 'admin:api-key-revoke', 'lock-me:login-failed']));
    const entry = body.entries.find((e: any) => e.action === 'user-create');
    expect(entry).toMatchObject({ address: expect.stringMatching(/127\.0\.0\.1/), requestId: expect.any(String), target: '/users' });
    expect((await call(main.base, 'get', '/audit', tokens.operator)).status).toBe(403);
  });
});
