/**
 * The NATS server exactly as docker-compose.yml starts it: its `sh -c` script reads every user's password from
 * the secret files, and nats-server runs the shipped deploy/nats/nats.conf with permissions.conf beside it. Only
 * the secret and config directories, the ports and the store directory are moved to a temporary directory.
 * A service configured as in compose (NATS_URL with its user, NATS_PASSWORD_FILE) connects through the config
 * and the runtime's natsServers; anyone else is refused.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { parse } from 'yaml';
import { loadConfig, SERVICE_NAMES } from '@terminusa/config';
import { bootstrapNats, createLogger, natsConnectOptions, prepareStreams } from '@terminusa/runtime';
import { Bus } from '@terminusa/bus';
import { freePort, waitFor } from '@terminusa/testkit';
import { NATS_USERS, natsPasswordVariable } from './nats-permissions.ts';
import { NATS_CONFIG_FILE, NATS_PERMISSIONS_FILE } from './render.ts';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const ROOT = join(import.meta.dirname, '..', '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as any;
const natsSecret = (user: string) => `nats_password_${user.replace(/-/g, '_')}`;
const password = (user: string) => `shipped-${user}-${process.pid}`;

let dir: string;
let etc: string;
let secrets: string;
let port: number;
let monitorPort: number;
let server: ChildProcess;
let serverLog = '';
const conns: NatsConnection[] = [];

/** The compose nats service's script with `$$` unescaped and its paths and ports moved under `dir`. */
function natsScript(secretDir: string, extraFlags: string): string {
  const script = String(compose.services.nats.command[0]).replace(/\$\$/g, '$');
  const exec = 'exec nats-server -c /etc/nats/nats.conf';
  expect(script).toContain(exec);
  return script.replaceAll('/run/secrets/', `${secretDir}/`).replace(exec, `exec ${NATS_SERVER} -c ${join(etc, 'nats.conf')} ${extraFlags}`);
}

/**
 * A service's connection as compose configures it: its user in NATS_URL, its password in NATS_PASSWORD_FILE, and
 * its own inbox prefix (_INBOX_<service>) as the runtime sets it.
 */
async function connectAsService(user: string, passwordFile = join(secrets, natsSecret(user))): Promise<NatsConnection> {
  const config = loadConfig({ env: { NATS_URL: `nats://${user}@127.0.0.1:${port}`, NATS_PASSWORD_FILE: passwordFile } });
  const nc = await connect({ ...natsConnectOptions(config.nats, user), reconnect: false });
  conns.push(nc);
  return nc;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tmon-shipped-nats-'));
  etc = join(dir, 'etc');
  secrets = join(dir, 'secrets');
  mkdirSync(etc);
  mkdirSync(secrets);
  // The configs as the compose file mounts them: both files unchanged, side by side.
  const targets = Object.fromEntries(compose.services.nats.configs.map((c: { source: string; target: string }) => [c.source, c.target]));
  expect(targets).toEqual({ nats_conf: '/etc/nats/nats.conf', nats_permissions: '/etc/nats/permissions.conf' });
  // The store directory moves to the temporary directory (nats-server refuses -sd next to the file's store_dir).
  const conf = readFileSync(NATS_CONFIG_FILE, 'utf8');
  expect(conf).toContain('store_dir: "/data"');
  writeFileSync(join(etc, 'nats.conf'), conf.replace('store_dir: "/data"', `store_dir: ${JSON.stringify(join(dir, 'js'))}`));
  copyFileSync(NATS_PERMISSIONS_FILE, join(etc, 'permissions.conf'));
  // Secret files as `printf '%s' … > deploy/secrets/…` writes them; one with a final newline, as `echo` would.
  for (const user of NATS_USERS) writeFileSync(join(secrets, natsSecret(user)), password(user) + (user === 'storage' ? '\n' : ''));
  port = await freePort();
  monitorPort = await freePort();
  const script = natsScript(secrets, `-a 127.0.0.1 -p ${port} -m ${monitorPort}`);
  server = spawn('sh', ['-c', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor(() => (serverLog.includes('Server is ready') ? true : server.exitCode !== null ? Promise.reject(new Error(serverLog)) : undefined), 10_000, 'nats-server ready');
}, 30_000);

afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the shipped NATS configuration (docker-compose.yml, deploy/nats/nats.conf)', () => {
  it('starts with JetStream and answers the compose health check', async () => {
    expect(serverLog).toMatch(/Starting JetStream/);
    const check = compose.services.nats.healthcheck.test as string[];
    const url = check.at(-1)!.replace('127.0.0.1:8222', `127.0.0.1:${monitorPort}`);
    expect((await fetch(url)).status).toBe(200);
  });

  it('lets every service in as its own user, with the password from its secret file, and JetStream works for it', async () => {
    for (const service of SERVICE_NAMES) {
      const nc = await connectAsService(service);
      // $JS.API.INFO is in every service's permissions: JetStream is enabled for the users' account.
      const info = await (await nc.jetstreamManager()).getAccountInfo();
      expect(info, service).toBeDefined();
    }
  });

  it('lets the bootstrap user make the streams and consumers, which a service then binds to and cannot make', async () => {
    const logger = createLogger(loadConfig({ env: { LOG_LEVEL: 'error' } }).log, { service: 'test', instance: 'test' });
    // The shipped file is for production: no namespace prefix.
    const env = (user: string) => ({ NATS_URL: `nats://${user}@127.0.0.1:${port}`, NATS_PASSWORD_FILE: join(secrets, natsSecret(user)) });
    const processorConfig = loadConfig({ env: env('processor') });
    const processor = await connect({ ...natsConnectOptions(processorConfig.nats, 'processor'), reconnect: false });
    conns.push(processor);
    const bus = new Bus(processor, '');
    await expect(prepareStreams(processor, bus, processorConfig, logger)).rejects.toThrow(/manageStreams/);
    const report = await bootstrapNats(loadConfig({ env: env('bootstrap') }), logger);
    expect(report.streams).toEqual(['INGEST', 'SAMPLES', 'DEADLETTER']);
    await prepareStreams(processor, bus, loadConfig({ env: { ...env('processor'), TMON_NATS__MANAGE_STREAMS: 'false' } }), logger);
    expect((await (await processor.jetstreamManager()).consumers.info('INGEST', 'processor')).config.durable_name).toBe('processor');
  });

  it('refuses clients without a user, with a wrong password or with another service’s password', async () => {
    await expect(connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: `nats://127.0.0.1:${port}`, user: 'processor', pass: 'wrong', reconnect: false })).rejects.toThrow(/Authorization Violation/i);
    await expect(connectAsService('collector', join(secrets, natsSecret('processor')))).rejects.toThrow(/Authorization Violation/i);
  });

  it('enforces the permissions: a service is refused another service’s subjects', async () => {
    const processor = await connectAsService('processor');
    let refused: Error | undefined;
    processor.subscribe('backup.command.run', { callback: (err) => (refused ??= err ?? undefined) });
    await processor.flush();
    await waitFor(() => refused, 5000, 'the refused subscription');
    expect(String(refused)).toMatch(/permissions violation/i);
    const from = serverLog.length;
    processor.publish('alerts.events', 'x');
    await processor.flush();
    await waitFor(() => (/Publish Violation.*"alerts\.events"/.test(serverLog.slice(from)) ? true : undefined), 5000, 'the refused publish');
  });

  it('nats-server -t accepts the shipped config with every password set, and refuses it with one missing', () => {
    const env = Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), password(u)]));
    const ok = spawnSync(NATS_SERVER, ['-t', '-c', join(etc, 'nats.conf')], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);
    delete env[natsPasswordVariable('admin')];
    const bad = spawnSync(NATS_SERVER, ['-t', '-c', join(etc, 'nats.conf')], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(/TMON_NATS_PASSWORD_ADMIN/);
  });

  it('the compose script refuses to start when a password secret is missing or empty', () => {
    for (const [what, fix] of [
      ['missing', (d: string) => unlinkSync(join(d, natsSecret('admin')))],
      ['empty', (d: string) => writeFileSync(join(d, natsSecret('backup')), '')],
    ] as const) {
      const partial = join(dir, `secrets-${what}`);
      mkdirSync(partial);
      for (const user of NATS_USERS) writeFileSync(join(partial, natsSecret(user)), password(user));
      fix(partial);
      const run = spawnSync('sh', ['-c', natsScript(partial, `-a 127.0.0.1 -p ${port} -m 0`)], { env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 10_000 });
      expect(run.status, what).toBe(1);
      expect(run.stderr, what).toMatch(/secret nats_password_(admin|backup) is missing or empty/);
    }
  });
});
