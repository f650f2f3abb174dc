/**
 * TLS to NATS: the server block nats.conf renders (commented out in the shipped file) and the clients' `nats.tls`
 * settings (CA, certificate and key files, TMON_NATS__TLS__*), on a real nats-server with certificates made by
 * openssl for the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { loadConfig } from '@terminusa/config';
import { natsConnectOptions } from '@terminusa/runtime';
import { freePort, waitFor } from '@terminusa/testkit';
import { NATS_TLS_DIR, NATS_USERS, natsPasswordVariable, renderNatsPermissions, renderNatsServerConfig } from './nats-permissions.ts';
import { NATS_CONFIG_FILE } from './render.ts';
import { makeCa, makeCertificate } from '../test-support/test-certificates.ts';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const password = (user: string) => `tls-${user}-${process.pid}`;

let dir: string;
let port: number;
let server: ChildProcess;
let serverLog = '';
const conns: NatsConnection[] = [];
const file = (name: string) => join(dir, name);

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makeCertificates(): void {
  makeCa(dir);
  makeCertificate(dir, 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
  makeCertificate(dir, 'client', 'extendedKeyUsage=clientAuth');
}

/** A service's settings as compose or k8s would give them, TLS files included. */
const serviceConfig = (user: string, tls: Record<string, string>) =>
  loadConfig({ env: { NATS_URL: `nats://${user}:${password(user)}@127.0.0.1:${port}`, ...tls } });

async function connectAs(user: string, tls: Record<string, string>): Promise<NatsConnection> {
  const nc = await connect({ ...natsConnectOptions(serviceConfig(user, tls).nats, user), reconnect: false });
  conns.push(nc);
  return nc;
}

const ALL_TLS = { TMON_NATS__TLS__CA: '', TMON_NATS__TLS__CERT: '', TMON_NATS__TLS__KEY: '' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tmon-nats-tls-'));
  makeCertificates();
  Object.assign(ALL_TLS, { TMON_NATS__TLS__CA: file('ca.crt'), TMON_NATS__TLS__CERT: file('client.crt'), TMON_NATS__TLS__KEY: file('client.key') });
  port = await freePort();
  // nats.conf as rendered with certificates (mutual TLS), moved to the test's port and store directory.
  const conf = renderNatsServerConfig({ tls: { certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt'), verify: true } })
    .replace('port: 4222', `listen: "127.0.0.1:${port}"`)
    .replace('http_port: 8222', 'http_port: -1')
    .replace('store_dir: "/data"', `store_dir: ${JSON.stringify(file('js'))}`);
  expect(conf).toMatch(/^tls \{$/m);
  writeFileSync(file('nats.conf'), conf);
  writeFileSync(file('permissions.conf'), renderNatsPermissions());
  const env = Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), password(u)]));
  server = spawn(NATS_SERVER, ['-c', file('nats.conf')], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor(() => (serverLog.includes('Server is ready') ? true : server.exitCode !== null ? Promise.reject(new Error(serverLog)) : undefined), 10_000, 'nats-server ready');
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  server?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('NATS over TLS', () => {
  it('a service with nats.tls (CA, certificate, key) connects over mutual TLS, with its user and inbox', async () => {
    expect(serverLog).toMatch(/TLS required for client connections/);
    const nc = await connectAs('processor', ALL_TLS);
    const info = await (await nc.jetstreamManager()).getAccountInfo();
    expect(info).toBeDefined();
    expect(nc.info?.tls_required).toBe(true);
  });

  it('refuses a client without TLS, and one without a client certificate when the server verifies them', async () => {
    await expect(connectAs('processor', {})).rejects.toThrow();
    await expect(connectAs('processor', { TMON_NATS__TLS__CA: ALL_TLS.TMON_NATS__TLS__CA })).rejects.toThrow();
  });

  it('refuses a server certificate from another CA', async () => {
    const other = mkdtempSync(join(tmpdir(), 'tmon-nats-tls-other-'));
    try {
      makeCa(other, 'ca', 'other CA');
      await expect(connectAs('processor', { ...ALL_TLS, TMON_NATS__TLS__CA: join(other, 'ca.crt') })).rejects.toThrow();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('reads nats.tls from the environment, and refuses a certificate without its key', () => {
    expect(serviceConfig('processor', ALL_TLS).nats.tls).toEqual({ ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key') });
    expect(() => serviceConfig('processor', { TMON_NATS__TLS__CERT: file('client.crt') })).toThrow(/cert and key together/);
    expect(natsConnectOptions(serviceConfig('processor', {}).nats, 'processor')).not.toHaveProperty('tls');
  });

  it('the shipped nats.conf holds the tls block commented out; uncommented, with the files in place, nats-server accepts it', () => {
    const shipped = readFileSync(NATS_CONFIG_FILE, 'utf8');
    expect(shipped).not.toMatch(/^tls \{/m);
    expect(shipped).toMatch(/^# tls \{$/m);
    const uncommented = shipped
      .replace(/^# (tls \{| {2}\w+: .*|\})$/gm, '$1')
      .replaceAll(`${NATS_TLS_DIR}/tls.crt`, file('server.crt'))
      .replaceAll(`${NATS_TLS_DIR}/tls.key`, file('server.key'))
      .replaceAll(`${NATS_TLS_DIR}/ca.crt`, file('ca.crt'))
      .replace('store_dir: "/data"', `store_dir: ${JSON.stringify(file('js-check'))}`);
    expect(uncommented).toMatch(/^tls \{\n {2}cert_file: /m);
    writeFileSync(file('shipped.conf'), uncommented);
    const env = Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), password(u)]));
    const run = spawnSync(NATS_SERVER, ['-t', '-c', file('shipped.conf')], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    expect(run.status, run.stderr + run.stdout).toBe(0);
  });
});
