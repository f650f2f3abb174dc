/**
 * The generated NATS permissions (deploy/nats/permissions.conf) on a real nats-server: a service user may use
 * its own subjects and is refused another service's, and the six services run under their own users.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { createTestNamespace, freePort, TEST_SERVERS, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';
import { NATS_PERMISSIONS_FILE } from './render.ts';
import { natsPasswordVariable, renderNatsPermissions } from './nats-permissions.ts';
import { SERVICES } from './overlays.ts';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const USERS = [...SERVICES, 'producer', 'admin'];
const password = (user: string) => `pw-${user}-7f3a`;

let ns: TestNamespace;
let dir: string;
let port: number;
let server: ChildProcess;
let serverLog = '';
const conns: NatsConnection[] = [];
const procs: ServiceProcess[] = [];

/** Connects as `user`. */
async function connectAs(user: string): Promise<NatsConnection> {
  const nc = await connect({ servers: `nats://127.0.0.1:${port}`, user, pass: password(user) });
  conns.push(nc);
  return nc;
}

const subject = (relative: string) => `${ns.id}.${relative}`;

/** Whether the server logged a refusal of `subj` (as `Publish Violation` or `Subscription Violation`) since `from`. */
const refused = (kind: 'Publish' | 'Subscription', subj: string, from: number) =>
  serverLog.slice(from).split('\n').some((l) => l.includes(`${kind} Violation`) && l.includes(`"${subj}"`));

/** Whether `nc` may publish to `subj`: an admin subscriber sees the message, or the server refuses it. */
async function canPublish(nc: NatsConnection, admin: NatsConnection, subj: string): Promise<boolean> {
  const seen: string[] = [];
  const sub = admin.subscribe(subj, { callback: (_e, m) => seen.push(m.subject) });
  await admin.flush();
  const from = serverLog.length;
  nc.publish(subj, 'x');
  await nc.flush();
  try {
    return await waitFor(() => (seen.length > 0 ? true : refused('Publish', subj, from) ? false : undefined), 3000, `publish to ${subj}`, 20);
  } finally {
    sub.unsubscribe();
  }
}

/** Whether `nc` may subscribe to `subj`: it receives what an admin publishes there, or the server refuses it. */
async function canSubscribe(nc: NatsConnection, admin: NatsConnection, subj: string): Promise<boolean> {
  const seen: string[] = [];
  let failed = false;
  const from = serverLog.length;
  const sub = nc.subscribe(subj, {
    callback: (err, m) => {
      if (err) failed = true;
      else seen.push(m.subject);
    },
  });
  await nc.flush();
  const probe = setInterval(() => admin.publish(subj, 'x'), 50);
  try {
    const ok = await waitFor(() => (seen.length > 0 ? true : refused('Subscription', subj, from) ? false : undefined), 3000, `subscription to ${subj}`, 20);
    if (!ok) await waitFor(() => (failed ? true : undefined), 3000, `the client told of the refused subscription to ${subj}`, 20);
    return ok;
  } finally {
    clearInterval(probe);
    sub.unsubscribe();
  }
}

beforeAll(async () => {
  ns = await createTestNamespace();
  dir = await mkdtemp(join(tmpdir(), 'tmon-nats-perm-'));
  port = await freePort();
  await writeFile(join(dir, 'permissions.conf'), renderNatsPermissions(ns.id));
  await writeFile(join(dir, 'nats-server.conf'), `listen: "127.0.0.1:${port}"\njetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }\ninclude ./permissions.conf\n`);
  const env = Object.fromEntries(USERS.map((u) => [natsPasswordVariable(u), password(u)]));
  server = spawn(NATS_SERVER, ['-c', join(dir, 'nats-server.conf')], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await waitFor(() => (serverLog.includes('Server is ready') ? true : server.exitCode !== null ? Promise.reject(new Error(serverLog)) : undefined), 10_000, 'nats-server ready');
}, 30_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await Promise.allSettled(conns.map((c) => c.close()));
  server?.kill('SIGKILL');
  await ns?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('NATS permissions per service', () => {
  it('are committed as generated from the subject map', async () => {
    expect(await readFile(NATS_PERMISSIONS_FILE, 'utf8'), 'run pnpm k8s:render').toBe(renderNatsPermissions());
  });

  it('let a service use its own subjects and refuse it another service’s', async () => {
    const admin = await connectAs('admin');
    const processor = await connectAs('processor');
    expect(await canPublish(processor, admin, subject('metrics.samples'))).toBe(true);
    expect(await canPublish(processor, admin, subject('metrics.deadletter.game'))).toBe(true);
    expect(await canPublish(processor, admin, subject('alerts.events'))).toBe(false);
    expect(await canPublish(processor, admin, subject('metrics.ingest.game'))).toBe(false);
    expect(await canSubscribe(processor, admin, subject('backup.command.run'))).toBe(false);

    const producer = await connectAs('producer');
    expect(await canPublish(producer, admin, subject('metrics.ingest.game'))).toBe(true);
    expect(await canPublish(producer, admin, subject('events.game.login'))).toBe(true);
    expect(await canPublish(producer, admin, subject('metrics.samples'))).toBe(false);
    expect(await canPublish(producer, admin, subject('alerts.config.changed'))).toBe(false);

    const collector = await connectAs('collector');
    expect(await canPublish(collector, admin, subject('metrics.ingest.scrape'))).toBe(true);
    expect(await canPublish(collector, admin, subject('metrics.ingest.backup'))).toBe(false);
    // Another service's JetStream consumer is off limits: no pulling, no acking its messages.
    expect(await canPublish(collector, admin, `$JS.API.CONSUMER.MSG.NEXT.${ns.id}_INGEST.processor`)).toBe(false);
    expect(await canPublish(collector, admin, `$JS.ACK.${ns.id}_SAMPLES.storage.1.1.1.1.1.0`)).toBe(false);

    const backup = await connectAs('backup');
    expect(await canSubscribe(backup, admin, subject('backup.command.list'))).toBe(true);
    expect(await canSubscribe(backup, admin, subject('alerts.command.ack'))).toBe(false);
    expect(await canSubscribe(backup, admin, subject('metrics.samples'))).toBe(false);

    const gateway = await connectAs('api-gateway');
    expect(await canSubscribe(gateway, admin, subject('metrics.samples'))).toBe(true);
    expect(await canPublish(gateway, admin, subject('backup.command.list'))).toBe(true);
    expect(await canPublish(gateway, admin, subject('metrics.samples'))).toBe(false);
    expect(await canSubscribe(gateway, admin, subject('backup.command.list'))).toBe(false);
  }, 60_000);

  it('are enough for every service to run under its own user', async () => {
    const logFrom = serverLog.length;
    const gatewayPort = await freePort();
    for (const service of SERVICES) {
      const env = {
        ...ns.env,
        NATS_URL: `nats://${service}:${password(service)}@127.0.0.1:${port}`,
        OPS_PORT: '0',
        GATEWAY_PORT: String(gatewayPort),
        GATEWAY_HOST: '127.0.0.1',
        ADMIN_PASSWORD: 'nats-permissions-admin-pw',
        TMON_COLLECTION__MODE: 'jobs',
        TMON_COLLECTION__INTERVALS__APP: '1',
      };
      procs.push(startServiceProcess(service, env));
    }
    const base = `http://127.0.0.1:${gatewayPort}`;
    // The gateway finds every service through $SRV discovery, answered under allow_responses.
    let adminToken: string | undefined;
    await waitFor(
      async () => {
        // Which instances are up is a signed-in detail: a token first, once the gateway answers.
        adminToken ??= await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'nats-permissions-admin-pw' }) })
          .then(async (res) => (res.ok ? ((await res.json()) as { token: string }).token : undefined))
          .catch(() => undefined);
        if (!adminToken) return undefined;
        const body = (await (await fetch(`${base}/health/details`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { services: Record<string, { instances: number }> };
        return SERVICES.every((s) => (body.services[s]?.instances ?? 0) === 1) ? true : undefined;
      },
      90_000,
      'every service discovered by the gateway',
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${serverLog.slice(-3000)}\n${procs.map((p) => `--- ${p.name}\n${p.output().slice(-1500)}`).join('\n')}`);
    });

    // A producer's JetStream publish goes through processor and storage into the engine.
    const producer = await connectAs('producer');
    const samples = Array.from({ length: 20 }, (_, i) => ({ name: 'perm_check', value: i, tags: { i: String(i) } }));
    await producer.jetstream().publish(subject('metrics.ingest.game'), JSON.stringify({ samples }));
    await waitFor(async () => {
      const url = `${TEST_SERVERS.vmUrl}/api/v1/export?${new URLSearchParams({ 'match[]': 'perm_check', extra_label: `tmon_ns=${ns.id}` })}`;
      const lines = (await (await fetch(url)).text()).split('\n').filter(Boolean);
      return lines.length === 20 ? true : undefined;
    }, 30_000, 'the samples stored', 250);

    // The gateway calls backup (request/reply) and its login works; the collector's scrapes reach the stream.
    const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'nats-permissions-admin-pw' }) });
    const { token } = (await login.json()) as { token: string };
    const backups = await fetch(`${base}/backups`, { headers: { authorization: `Bearer ${token}` } });
    expect(backups.status).toBe(200);
    expect(serverLog.slice(logFrom)).not.toMatch(/Violation/);
  }, 150_000);
});
