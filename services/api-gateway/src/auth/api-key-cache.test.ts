import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import type pg from 'pg';
import { Bus } from '@terminusa/bus';
import { loadConfig } from '@terminusa/config';
import { createPool, migrate } from '@terminusa/database';
import { createLogger, Health } from '@terminusa/runtime';
import { waitFor, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { createApp, type GatewayDeps } from '../app.ts';
import { closeGatewayDeps, gatewayDeps } from '../gateway-deps.ts';
import { API_KEY_CACHE_MS, ApiKeyCache } from './api-key-cache.ts';
import { RevocationChannel } from './revocations.ts';
import { PgUserStore } from './user-store.ts';

const ADMIN_PASSWORD = 'api-key-cache-admin-pw';
const JWT_SECRET = 'a-test-secret-of-at-least-32-characters!!';
const LAST_USE_WRITE = /^UPDATE api_keys SET last_used_at/;

let ns: TestNamespace;
let nc: NatsConnection;
const closers: (() => Promise<unknown> | unknown)[] = [];

/**
 * A PostgreSQL pool of the namespace whose statements are recorded: the server is the real one, the list only
 * shows what was asked of it.
 */
function countedPool(name: string): { pool: pg.Pool; statements: string[] } {
  const pool = createPool(ns.config.database, name);
  const statements: string[] = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as any).query = (...args: unknown[]) => {
    statements.push(typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text);
    return query(...args);
  };
  return { pool, statements };
}

/** A Redis connection of its own, named so the test can find it (and its subscriptions) in CLIENT LIST. */
function namedRedis(name: string): Redis {
  return ns.redis({ connectionName: `${ns.id}-${name}` });
}

/** A gateway replica on its own PostgreSQL pool and Redis connection, built as main.ts builds it. */
async function startReplica(name: string): Promise<{ base: string; deps: GatewayDeps; statements: string[] }> {
  const config = loadConfig({ env: { ...ns.env, ADMIN_PASSWORD, JWT_SECRET, LOG_LEVEL: 'error' }, overrides: { gateway: { rateLimit: { perPrincipal: 100_000, perAddress: 100_000, loginPerMinute: 100_000 } } } });
  const { pool, statements } = countedPool(`api-key-cache-${name}`);
  const health = new Health('api-gateway', name);
  health.setReady(true);
  const deps = await gatewayDeps({ config, pool, redis: namedRedis(name), bus: new Bus(nc, config.nats.prefix), health, logger: createLogger(config.log, { service: 'api-gateway', instance: name }) });
  const server: Server = createServer(createApp(deps)).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  // Stopped in main.ts' order: the server, then the cache and the last uses, then the pool.
  closers.push(async () => {
    await new Promise((r) => server.close(r));
    await closeGatewayDeps(deps);
    await pool.end();
  });
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, deps, statements };
}

const read = (base: string, key: string) => fetch(`${base}/metrics/current?name=players_online`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);

/** Statements since `from` other than the background write of last uses. */
const requestStatements = (statements: string[], from: number) => statements.slice(from).filter((s) => !LAST_USE_WRITE.test(s));

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  const pool = createPool(ns.config.database, 'api-key-cache-migrate');
  await migrate(pool, ns.config.database.schema);
  await pool.end();
  nc = await connect({ servers: ns.config.nats.url });
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await nc?.close();
});

describe('API keys on the request path', () => {
  it('answer a hot key from memory, with no statement to PostgreSQL; a wrong key is still asked of PostgreSQL each time', async () => {
    const gw = await startReplica('hot');
    const { key, secret } = await gw.deps.users.createApiKey('grafana', 'viewer', 'admin');
    expect(await read(gw.base, secret)).toBe(200);

    const from = gw.statements.length;
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 50 }, () => read(gw.base, secret)));
    console.log(`50 reads with a hot API key: ${(performance.now() - started).toFixed(1)} ms`);
    expect(answers.every((s) => s === 200)).toBe(true);
    expect(requestStatements(gw.statements, from)).toEqual([]);

    // A wrong secret for the cached id is refused from memory; an unknown key goes to PostgreSQL, every time.
    expect(await read(gw.base, `tmk_${key.id}_${'x'.repeat(43)}`)).toBe(401);
    expect(requestStatements(gw.statements, from)).toEqual([]);
    const unknown = `tmk_${'0'.repeat(12)}_${'y'.repeat(43)}`;
    expect(await read(gw.base, unknown)).toBe(401);
    expect(await read(gw.base, unknown)).toBe(401);
    expect(requestStatements(gw.statements, from)).toHaveLength(2);
  });

  it('refuse a key revoked on one replica at once on another replica that had it cached', async () => {
    const [a, b] = [await startReplica('a'), await startReplica('b')];
    const admin = await fetch(`${a.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    const adminToken = ((await admin.json()) as { token: string }).token;
    const { key, secret } = await a.deps.users.createApiKey('wallboard', 'viewer', 'admin');
    const cachedAt = Date.now();
    expect([await read(a.base, secret), await read(b.base, secret)]).toEqual([200, 200]);
    const fromB = b.statements.length;
    expect(await read(b.base, secret)).toBe(200);
    expect(requestStatements(b.statements, fromB)).toEqual([]);

    const revoked = await fetch(`${a.base}/api-keys/${key.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    expect(revoked.status).toBe(204);
    const revokedAt = Date.now();
    // The replica that revoked forgot the key before it answered.
    expect(await read(a.base, secret)).toBe(401);
    await waitFor(async () => ((await read(b.base, secret)) === 401 ? true : undefined), 2_000, 'the other replica to refuse the revoked key', 5);
    console.log(`the other replica refused the revoked key ${Date.now() - revokedAt} ms after the revocation`);
    // Well inside the time B would have trusted its cached entry: the announcement ended it, not the cache's age.
    expect(Date.now() - cachedAt).toBeLessThan(API_KEY_CACHE_MS);
  });

  it('write last_used_at after a use, off the request path and once for many uses, and what is pending at shutdown', async () => {
    const { pool, statements } = countedPool('api-key-cache-last-use');
    closers.push(() => pool.end());
    const users = new PgUserStore(pool);
    const cache = new ApiKeyCache(users);
    const { key, secret } = await users.createApiKey('prom-eu', 'producer', 'admin');
    const { key: late, secret: lateSecret } = await users.createApiKey('otel-eu', 'producer', 'admin');
    const lastUsed = async (id: string) => (await pool.query('SELECT last_used_at FROM api_keys WHERE id = $1', [id])).rows[0].last_used_at as Date | null;
    expect(await lastUsed(key.id)).toBeNull();

    const before = Date.now();
    for (let i = 0; i < 20; i++) expect(await cache.verify(secret)).toMatchObject({ id: key.id, role: 'producer' });
    const at = await waitFor(async () => (await lastUsed(key.id)) ?? undefined, 5_000, 'last_used_at to be written');
    expect(at.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect((await users.listApiKeys()).find((k) => k.id === key.id)?.lastUsedAt).toBe(at.toISOString());

    // More uses within the minute write nothing more; a use just before shutdown is written by close().
    for (let i = 0; i < 20; i++) await cache.verify(secret);
    expect(await cache.verify(lateSecret)).toMatchObject({ id: late.id });
    await users.close();
    expect(await lastUsed(late.id)).not.toBeNull();
    expect(statements.filter((s) => LAST_USE_WRITE.test(s))).toHaveLength(2);
    expect(await lastUsed(key.id)).toEqual(at);
  });
});

describe('the API key cache', () => {
  it('forgets every key when its subscription reconnected, since revocations may have been missed meanwhile', async () => {
    const { pool } = countedPool('api-key-cache-reconnect');
    closers.push(() => pool.end());
    const users = new PgUserStore(pool);
    // Kept a minute, so only the reconnect can make it forget within the test.
    const cache = new ApiKeyCache(users, { ttlMs: 60_000 });
    const redis = namedRedis('reconnect');
    await cache.listen(new RevocationChannel(redis, ns.config.redis.prefix));
    closers.push(() => cache.close());
    const { key, secret } = await users.createApiKey('grafana-2', 'viewer', 'admin');
    expect(await cache.verify(secret)).toMatchObject({ id: key.id });

    // Revoked while its announcement is lost: the cache still trusts the key.
    await users.revokeApiKey(key.id);
    expect(await cache.verify(secret)).toMatchObject({ id: key.id });

    const clients = String(await redis.call('CLIENT', 'LIST'))
      .split('\n')
      .filter((line) => line.includes(` name=${ns.id}-reconnect `) && / sub=[1-9]/.test(line));
    expect(clients).toHaveLength(1);
    await redis.call('CLIENT', 'KILL', 'ID', /^id=(\d+)/.exec(clients[0]!)![1]!);
    await waitFor(async () => ((await cache.verify(secret)) === undefined ? true : undefined), 10_000, 'the cache to forget the key after the reconnect');
    expect(cache.size).toBe(0);
  });

  it('holds at most its size in keys, dropping the oldest', async () => {
    const { pool, statements } = countedPool('api-key-cache-size');
    closers.push(() => pool.end());
    const users = new PgUserStore(pool);
    const cache = new ApiKeyCache(users, { maxEntries: 2 });
    const keys = await Promise.all(['one', 'two', 'three'].map((name) => users.createApiKey(name, 'viewer', 'admin')));
    for (const { secret } of keys) expect(await cache.verify(secret)).toBeDefined();
    expect(cache.size).toBe(2);
    const from = statements.length;
    await cache.verify(keys[2]!.secret);
    expect(statements.length).toBe(from);
    await cache.verify(keys[0]!.secret);
    expect(statements.length).toBe(from + 1);
    await users.close();
  });
});
