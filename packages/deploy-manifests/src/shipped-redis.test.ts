/**
 * Redis exactly as docker-compose.yml starts it: the `sh -c` script reads the secrets and deploy/redis/acl-rules.conf
 * and hands redis-server a `requirepass` line and a `user` line per service on standard input. Only the secret
 * directory, the rules file's path and the port move (and the image's entrypoint, which only drops to the redis
 * user, is left out). Services configured as in compose (REDIS_URL naming their user, REDIS_PASSWORD_FILE) get in
 * through the config and the runtime's createRedis; then the whole suite runs on it, every service as its own user.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, SERVICE_NAMES, type ServiceName } from '@terminusa/config';
import { createRedis } from '@terminusa/runtime';
import { freePort, startSuite, startTestReceiver, waitFor, type RunningSuite, type TestReceiver } from '@terminusa/testkit';
import { redisPasswordSecret } from './redis-acl.ts';
import { REDIS_ACL_FILE } from './render.ts';

const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const ROOT = join(import.meta.dirname, '..', '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
/** The prefix the shipped rules name (the configuration's default). */
const PREFIX = 'tmon:';
const ADMIN_PASSWORD = `shipped-redis-admin-${process.pid}`;
const password = (secret: string) => `${secret.replace(/_/g, '-')}-${process.pid}`;

let dir: string;
let port: number;
let server: ChildProcess;
let serverLog = '';
const clients: Redis[] = [];

/** The compose redis service's script with `$$` unescaped, the secrets under `secretDir`, the repository's rules and redis-server run directly. */
function redisScript(secretDir: string, extraFlags: string): string {
  const command = compose.services.redis.command as string[];
  expect(command.slice(0, 2)).toEqual(['sh', '-c']);
  const script = String(command[2]).replace(/\$\$/g, '$');
  const exec = 'exec docker-entrypoint.sh redis-server - --appendonly yes';
  expect(script).toContain(exec);
  expect(script).toContain('/etc/redis/acl-rules.conf');
  return script
    .replaceAll('/run/secrets/', `${secretDir}/`)
    .replaceAll('/etc/redis/acl-rules.conf', REDIS_ACL_FILE)
    .replace(exec, `exec ${REDIS_SERVER} - --appendonly yes ${extraFlags}`);
}

/** What compose gives service `name`: REDIS_URL with its user, its password as a file. */
function serviceEnv(name: ServiceName, passwordSecret = redisPasswordSecret(name)): Record<string, string> {
  return { REDIS_URL: `redis://${name}@127.0.0.1:${port}`, REDIS_PASSWORD_FILE: join(dir, 'secrets', passwordSecret), REDIS_PREFIX: PREFIX };
}

/** A connected client configured as compose configures service `name`. */
async function serviceClient(name: ServiceName): Promise<Redis> {
  const client = createRedis(loadConfig({ env: serviceEnv(name) }), 'commands', `shipped-redis-${name}`);
  clients.push(client);
  await client.connect();
  return client;
}

function secretsIn(secretDir: string, skip?: string): void {
  mkdirSync(secretDir, { recursive: true });
  // As `printf '%s' "$(openssl rand -hex 24)" > deploy/secrets/<name>.txt` writes them: no newline.
  for (const secret of ['redis_password', ...SERVICE_NAMES.map(redisPasswordSecret)]) if (secret !== skip) writeFileSync(join(secretDir, secret), secret === 'redis_password' ? ADMIN_PASSWORD : password(secret));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tmon-shipped-redis-'));
  secretsIn(join(dir, 'secrets'));
  mkdirSync(join(dir, 'data'));
  port = await freePort();
  server = spawn('sh', ['-c', redisScript(join(dir, 'secrets'), `--port ${port} --bind 127.0.0.1 --dir ${join(dir, 'data')} --save ''`)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor(() => (serverLog.includes('Ready to accept connections') ? true : server.exitCode !== null ? Promise.reject(new Error(serverLog)) : undefined), 10_000, 'redis-server ready');
}, 30_000);

afterAll(() => {
  for (const c of clients) c.disconnect();
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the shipped Redis (docker-compose.yml)', () => {
  it('requires a password of everyone: the default user has requirepass, each service its own user and secret', async () => {
    expect(serverLog).toMatch(/Reading config from stdin/);
    const anonymous = createRedis(loadConfig({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } }), 'commands');
    await anonymous.connect().catch(() => undefined);
    await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    anonymous.disconnect();
    const operator = createRedis(loadConfig({ env: { REDIS_URL: `redis://:${ADMIN_PASSWORD}@127.0.0.1:${port}` } }), 'commands');
    clients.push(operator);
    await operator.connect();
    expect(await operator.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect((await operator.acl('USERS')).sort()).toEqual(['default', ...SERVICE_NAMES].sort());
    for (const name of SERVICE_NAMES) expect(await (await serviceClient(name)).ping(), name).toBe('PONG');
    // The processor with the storage's password is refused.
    const wrong = createRedis(loadConfig({ env: serviceEnv('processor', redisPasswordSecret('storage')) }), 'commands');
    const errors: string[] = [];
    wrong.on('error', (err: Error) => errors.push(err.message));
    await expect(wrong.connect()).rejects.toThrow();
    wrong.disconnect();
    expect(errors.join('\n')).toMatch(/WRONGPASS/);
  });

  it('gives each service only its own keys and no admin command', async () => {
    const processor = await serviceClient('processor');
    const gateway = await serviceClient('api-gateway');
    const collector = await serviceClient('collector');
    await expect(processor.get(`${PREFIX}auth:user-revoked:admin`)).rejects.toThrow(/NOPERM/);
    await expect(processor.hset(`${PREFIX}current:players_online`, 'x', '1')).rejects.toThrow(/NOPERM/);
    await expect(processor.lpush(`${PREFIX}bull:backup:wait`, 'job')).rejects.toThrow(/NOPERM/);
    expect(await processor.sadd(`${PREFIX}series:players_online`, '{}')).toBe(1);
    // The gateway reads the alert state and cannot change it; it cannot touch a queue.
    expect(await gateway.hgetall(`${PREFIX}alerts:state:r:g`)).toEqual({});
    await expect(gateway.hset(`${PREFIX}alerts:state:r:g`, 'state', 'resolved')).rejects.toThrow(/NOPERM/);
    await expect(gateway.del(`${PREFIX}bull:collector:meta`)).rejects.toThrow(/NOPERM/);
    // Scripts are held to the same keys.
    await expect(collector.eval("return redis.call('GET', KEYS[1])", 1, `${PREFIX}revoked:x`)).rejects.toThrow(/NOPERM/);
    await expect(collector.publish(`${PREFIX}auth:revocations`, '{}')).rejects.toThrow(/NOPERM/);
    for (const client of [processor, gateway, collector]) {
      await expect(client.flushall()).rejects.toThrow(/NOPERM/);
      await expect(client.config('GET', 'requirepass')).rejects.toThrow(/NOPERM/);
      await expect(client.keys('*')).rejects.toThrow(/NOPERM/);
      await expect(client.call('ACL', 'LIST')).rejects.toThrow(/NOPERM/);
    }
  });

  it('keeps the passwords off the command line', () => {
    const script = redisScript('/run/secrets', '');
    expect(script).not.toMatch(/--requirepass|--user/);
    const ps = spawnSync('ps', ['-o', 'args=', '-p', String(server.pid)], { encoding: 'utf8' });
    if (ps.status === 0) {
      expect(ps.stdout).not.toContain(ADMIN_PASSWORD);
      expect(ps.stdout).not.toContain(password(redisPasswordSecret('api-gateway')));
    }
  });

  it('refuses to start when a secret is missing, empty or more than one configuration token', () => {
    for (const [what, secret, content] of [
      ['missing', 'redis_password', undefined],
      ['missing', redisPasswordSecret('alert-manager'), undefined],
      ['empty', redisPasswordSecret('backup'), ''],
      ['not one token', redisPasswordSecret('storage'), 'two words'],
    ] as const) {
      const secrets = join(dir, `secrets-${what.replace(/ /g, '-')}-${secret}`);
      secretsIn(secrets, secret);
      if (content !== undefined) writeFileSync(join(secrets, secret), content);
      const run = spawnSync('sh', ['-c', redisScript(secrets, `--port ${port} --bind 127.0.0.1`)], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 10_000 });
      expect(run.status, `${what} ${secret}`).toBe(1);
      expect(run.stderr, `${what} ${secret}`).toMatch(content === 'two words' ? `secret ${secret} may hold only letters, digits, _ and -` : `secret ${secret} is missing or empty`);
    }
  });
});

describe('the suite on the shipped Redis, every service as its own user', () => {
  let suite: RunningSuite;
  let hook: TestReceiver;

  beforeAll(async () => {
    hook = await startTestReceiver();
    const rulesFile = join(dir, 'alert-rules.yaml');
    writeFileSync(rulesFile, 'rules:\n  - { name: AclHot, metric: acl_hot, comparator: ">", threshold: 10, severity: critical, channels: [webhook] }\n');
    suite = await startSuite({
      services: ['collector', 'processor', 'storage', 'alert-manager', 'backup'],
      env: { ALERT_RULES_FILE: rulesFile, TMON_ALERTS__GROUP_WAIT: '1', TMON_ALERTS__CHANNELS__WEBHOOK: JSON.stringify({ url: `${hook.url}/hook`, secret: 'acl-webhook-secret' }) },
      serviceEnv: Object.fromEntries(SERVICE_NAMES.map((name) => [name, serviceEnv(name)])),
    });
  }, 240_000);

  afterAll(async () => {
    await suite?.stop();
    await hook?.close();
  });

  it('ingests, alerts, notifies, locks out and revokes with no refusal in any service', async () => {
    // processor (series index) → storage (current values) → gateway (reads them).
    expect((await suite.api('/metrics/custom?source=acl', { method: 'POST', body: JSON.stringify({ samples: [{ name: 'acl_hot', value: 42, tags: { shard: 'a' } }] }) })).status).toBe(202);
    await waitFor(async () => ((await suite.api('/metrics/current?name=acl_hot')).body.values?.length ? true : undefined), 30_000, 'the sample at /metrics/current');
    // alert-manager (alert state, delivery queue) → gateway (reads the active alerts) and the webhook.
    await waitFor(async () => ((await suite.api('/alerts/active')).body.alerts.some((a: any) => a.rule === 'AclHot') ? true : undefined), 30_000, 'AclHot active');
    await waitFor(() => (hook.requests.some((r) => r.body.includes('AclHot')) ? true : undefined), 30_000, 'the AclHot webhook');
    // The gateway's lockout, rate limits and revocations.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${suite.base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'wrong' }) });
      expect(res.status).toBe(401);
    }
    const locked = await suite.login('admin', suite.adminPassword).catch((err: Error) => err.message);
    expect(locked, 'the admin, locked out from this address').toMatch(/answered 429/);
    const logout = await suite.api('/auth/logout', { method: 'POST', body: '{}' });
    expect(logout.status).toBe(204);
    expect((await suite.api('/alerts/active')).status).toBe(401);
    const refusals = suite.procs.filter((p) => /NOPERM/.test(p.output())).map((p) => `${p.name}: ${p.output().split('\n').find((l) => l.includes('NOPERM'))}`);
    expect(refusals).toEqual([]);
  });
});
