/**
 * Redis exactly as docker-compose.yml starts it: the `sh -c` script reads the redis_password secret and hands it to
 * redis-server as a `requirepass` line on standard input. Only the secret directory and the port move (and the
 * image's entrypoint, which only drops to the redis user, is left out). A service configured as in compose
 * (REDIS_URL without a password, REDIS_PASSWORD_FILE) gets in through the config and the runtime's createRedis.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '@terminusa/config';
import { createRedis } from '@terminusa/runtime';
import { freePort, waitFor } from '@terminusa/testkit';

const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const ROOT = join(import.meta.dirname, '..', '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
const PASSWORD = `shipped-redis-${process.pid}`;

let dir: string;
let port: number;
let server: ChildProcess;
let serverLog = '';

/** The compose redis service's script with `$$` unescaped, the secrets under `secretDir` and redis-server run directly. */
function redisScript(secretDir: string, extraFlags: string): string {
  const command = compose.services.redis.command as string[];
  expect(command.slice(0, 2)).toEqual(['sh', '-c']);
  const script = String(command[2]).replace(/\$\$/g, '$');
  const exec = 'exec docker-entrypoint.sh redis-server - --appendonly yes';
  expect(script).toContain(exec);
  return script.replaceAll('/run/secrets/', `${secretDir}/`).replace(exec, `exec ${REDIS_SERVER} - --appendonly yes ${extraFlags}`);
}

/** A client configured as a compose service is: REDIS_URL without a password, the password from its secret file. */
function serviceClient(passwordFile: string) {
  const config = loadConfig({ env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PASSWORD_FILE: passwordFile } });
  return createRedis(config, 'commands', 'shipped-redis-test');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tmon-shipped-redis-'));
  mkdirSync(join(dir, 'secrets'));
  mkdirSync(join(dir, 'data'));
  // As `printf '%s' … > deploy/secrets/redis_password.txt` writes it.
  writeFileSync(join(dir, 'secrets', 'redis_password'), PASSWORD);
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
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the shipped Redis (docker-compose.yml)', () => {
  it('requires the password: a client without it is refused, a service with its secret file gets in', async () => {
    expect(serverLog).toMatch(/Reading config from stdin/);
    const anonymous = createRedis(loadConfig({ env: { REDIS_URL: `redis://127.0.0.1:${port}` } }), 'commands');
    try {
      await anonymous.connect().catch(() => undefined);
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
    const wrongFile = join(dir, 'wrong_password');
    writeFileSync(wrongFile, 'not-the-password');
    const wrong = serviceClient(wrongFile);
    const errors: string[] = [];
    wrong.on('error', (err: Error) => errors.push(err.message));
    try {
      await expect(wrong.connect()).rejects.toThrow();
      expect(errors.join('\n')).toMatch(/WRONGPASS/);
    } finally {
      wrong.disconnect();
    }
    const service = serviceClient(join(dir, 'secrets', 'redis_password'));
    try {
      await service.connect();
      expect(await service.ping()).toBe('PONG');
      expect(await service.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    } finally {
      service.disconnect();
    }
  });

  it('keeps the password off the command line', () => {
    const script = redisScript('/run/secrets', '');
    expect(script).not.toMatch(/--requirepass/);
    const ps = spawnSync('ps', ['-o', 'args=', '-p', String(server.pid)], { encoding: 'utf8' });
    if (ps.status === 0) expect(ps.stdout).not.toContain(PASSWORD);
  });

  it('refuses to start when the secret is missing or empty', () => {
    for (const what of ['missing', 'empty'] as const) {
      const secrets = join(dir, `secrets-${what}`);
      mkdirSync(secrets);
      if (what === 'empty') writeFileSync(join(secrets, 'redis_password'), '');
      const run = spawnSync('sh', ['-c', redisScript(secrets, `--port ${port} --bind 127.0.0.1`)], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 10_000 });
      expect(run.status, what).toBe(1);
      expect(run.stderr, what).toMatch(/secret redis_password is missing or empty/);
    }
  });
});
