/**
 * The generated NATS permissions (deploy/nats/permissions.conf) on a real nats-server: a service user may use
 * its own subjects and is refused another service's; every client reads only its own inbox (`_INBOX_<user>`),
 * pull consumers included; a producer (an NKEY user per game service) publishes as its own source and nothing
 * else; only the bootstrap identity creates streams and consumers; and the six services run under their own
 * users, binding to what the bootstrap made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, ErrorCode, nkeyAuthenticator, type JetStreamManager, type NatsConnection } from 'nats';
import { Bus, CALLS, consumeBatches, ensureStreams, inboxPrefix, isPermissionError, type JsMsg } from '@terminusa/bus';
import { loadConfig, SERVICE_NAMES } from '@terminusa/config';
import { bootstrapNats, createLogger, natsConnectOptions, prepareConsumer, prepareStreams, type Logger } from '@terminusa/runtime';
import { freePort, TEST_SERVERS, startServiceProcess, useTestNamespace, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';
import { NATS_PERMISSIONS_FILE } from './render.ts';
import { NATS_USERS, natsPasswordVariable, renderNatsPermissions, shippedProducers } from './nats-permissions.ts';
import { newProducerKey, type Producer } from './producers.ts';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const ROOT = join(import.meta.dirname, '..', '..', '..');
const password = (user: string) => `pw-${user}-7f3a`;
/** Two game services, each with its own NKEY. */
const GAMES = ['game', 'other'] as const;
const keys = Object.fromEntries(GAMES.map((g) => [g, newProducerKey(g)])) as Record<(typeof GAMES)[number], { producer: Producer; seed: string }>;

let ns: TestNamespace;
let dir: string;
let port: number;
let server: ChildProcess;
let serverLog = '';
const conns: NatsConnection[] = [];
const procs: ServiceProcess[] = [];
const quiet: Logger = createLogger(loadConfig({ env: { LOG_LEVEL: 'error' } }).log, { service: 'test', instance: 'test' });

const natsUrl = (user: string, pass = password(user)) => `nats://${user}:${pass}@127.0.0.1:${port}`;
/** The suite's settings for one NATS user in the test's namespace. */
const configAs = (user: string, extra: Record<string, string> = {}) => loadConfig({ env: { ...ns.env, NATS_URL: natsUrl(user), ...extra } });

/** Connects as `user` the way the suite does: its credentials and its own inbox prefix. */
async function connectAs(user: string): Promise<NatsConnection> {
  const nc = await connect({ ...natsConnectOptions(configAs(user).nats, user), name: `test-${user}` });
  conns.push(nc);
  return nc;
}

/** Connects as a game service: its NKEY seed and its own inbox prefix. */
async function connectProducer(name: (typeof GAMES)[number], seed = keys[name].seed): Promise<NatsConnection> {
  const nc = await connect({ servers: `nats://127.0.0.1:${port}`, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)), inboxPrefix: inboxPrefix(name), reconnect: false });
  conns.push(nc);
  return nc;
}

const subject = (relative: string) => `${ns.id}.${relative}`;
const stream = (name: string) => `${ns.id}_${name}`;

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

/** Whether `nc` may subscribe to `subj`: it receives what an admin publishes to `probe` (default `subj`), or the server refuses it. */
async function canSubscribe(nc: NatsConnection, admin: NatsConnection, subj: string, probe = subj): Promise<boolean> {
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
  const timer = setInterval(() => admin.publish(probe, 'x'), 50);
  try {
    const ok = await waitFor(() => (seen.length > 0 ? true : refused('Subscription', subj, from) ? false : undefined), 3000, `subscription to ${subj}`, 20);
    if (!ok) await waitFor(() => (failed ? true : undefined), 3000, `the client told of the refused subscription to ${subj}`, 20);
    return ok;
  } finally {
    clearInterval(timer);
    sub.unsubscribe();
  }
}

/** A JetStream API request as a raw request; resolves with the refusal (a permissions violation) or the server's answer. */
async function jsApi(nc: NatsConnection, api: string, body: unknown = {}): Promise<'refused' | unknown> {
  try {
    const reply = await nc.request(api, JSON.stringify(body), { timeout: 3000 });
    return reply.json();
  } catch (err) {
    if (isPermissionError(err)) return 'refused';
    throw err;
  }
}

const streamNames = async (jsm: JetStreamManager) => (await jsm.streams.names().next()).filter((n) => n.startsWith(`${ns.id}_`)).sort();

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmon-nats-perm-'));
  port = await freePort();
  await writeFile(join(dir, 'permissions.conf'), renderNatsPermissions(ns.id, GAMES.map((g) => keys[g].producer)));
  await writeFile(join(dir, 'nats-server.conf'), `listen: "127.0.0.1:${port}"\njetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }\ninclude ./permissions.conf\n`);
  const env = Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), password(u)]));
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
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('NATS permissions per service', () => {
  it('are committed as generated from the subject map and deploy/nats/producers.json', async () => {
    expect(await readFile(NATS_PERMISSIONS_FILE, 'utf8'), 'run pnpm k8s:render').toBe(renderNatsPermissions('', shippedProducers()));
    // No user may read every inbox any more, and no service user may create or update a stream.
    const text = await readFile(NATS_PERMISSIONS_FILE, 'utf8');
    expect(text).not.toContain('"_INBOX.>"');
    expect(text.match(/\$JS\.API\.STREAM\.CREATE\./g)).toHaveLength(3);
  });

  it('let a service use its own subjects and refuse it another service’s', async () => {
    const admin = await connectAs('admin');
    const processor = await connectAs('processor');
    expect(await canPublish(processor, admin, subject('metrics.samples'))).toBe(true);
    expect(await canPublish(processor, admin, subject('metrics.deadletter.game'))).toBe(true);
    expect(await canPublish(processor, admin, subject('alerts.events'))).toBe(false);
    expect(await canPublish(processor, admin, subject('metrics.ingest.game'))).toBe(false);
    expect(await canSubscribe(processor, admin, subject('backup.command.run'))).toBe(false);

    const collector = await connectAs('collector');
    expect(await canPublish(collector, admin, subject('metrics.ingest.scrape'))).toBe(true);
    expect(await canPublish(collector, admin, subject('metrics.ingest.backup'))).toBe(false);
    // Another service's JetStream consumer is off limits: no pulling, no acking its messages.
    expect(await canPublish(collector, admin, `$JS.API.CONSUMER.MSG.NEXT.${stream('INGEST')}.processor`)).toBe(false);
    expect(await canPublish(collector, admin, `$JS.ACK.${stream('SAMPLES')}.storage.1.1.1.1.1.0`)).toBe(false);

    const backup = await connectAs('backup');
    expect(await canSubscribe(backup, admin, subject('backup.command.list'))).toBe(true);
    expect(await canSubscribe(backup, admin, subject('alerts.command.ack'))).toBe(false);
    expect(await canSubscribe(backup, admin, subject('metrics.samples'))).toBe(false);

    const gateway = await connectAs('api-gateway');
    expect(await canSubscribe(gateway, admin, subject('metrics.samples'))).toBe(true);
    expect(await canPublish(gateway, admin, subject('backup.command.list'))).toBe(true);
    expect(await canPublish(gateway, admin, subject('metrics.samples'))).toBe(false);
    expect(await canSubscribe(gateway, admin, subject('backup.command.list'))).toBe(false);
    // The dead-letter routes read and remove dead letters, and replay them as what they came as; nothing else kept.
    expect(await canPublish(gateway, admin, `$JS.API.STREAM.MSG.GET.${stream('DEADLETTER')}`)).toBe(true);
    expect(await canPublish(gateway, admin, `$JS.API.STREAM.MSG.DELETE.${stream('DEADLETTER')}`)).toBe(true);
    expect(await canPublish(gateway, admin, subject('events.game.kill'))).toBe(true);
    expect(await canPublish(gateway, admin, `$JS.API.STREAM.MSG.GET.${stream('INGEST')}`)).toBe(false);
    expect(await canPublish(gateway, admin, `$JS.API.STREAM.MSG.DELETE.${stream('SAMPLES')}`)).toBe(false);
  }, 60_000);

  it('let every client read its own inbox only: no _INBOX.>, no other user’s inbox', async () => {
    const admin = await connectAs('admin');
    const storage = await connectAs('storage');
    expect(await canSubscribe(storage, admin, '_INBOX_storage.>', '_INBOX_storage.abc')).toBe(true);
    expect(await canSubscribe(storage, admin, '_INBOX.>', '_INBOX.abc')).toBe(false);
    // The gateway's inbox carries the replies of backup, archive and ack calls.
    expect(await canSubscribe(storage, admin, '_INBOX_api-gateway.>', '_INBOX_api-gateway.abc')).toBe(false);
    expect(await canSubscribe(storage, admin, '>', 'anything')).toBe(false);
  }, 30_000);
});

describe('a producer (one NKEY user per game service)', () => {
  it('publishes as its own source, core or JetStream, and as no other', async () => {
    const admin = await connectAs('admin');
    await bootstrapNats(configAs('bootstrap'), quiet);
    const game = await connectProducer('game');
    expect(await canPublish(game, admin, subject('metrics.ingest.game'))).toBe(true);
    expect(await canPublish(game, admin, subject('events.game.login'))).toBe(true);
    // Spoofing another game, the collector or a suite subject is refused.
    expect(await canPublish(game, admin, subject('metrics.ingest.other'))).toBe(false);
    expect(await canPublish(game, admin, subject('events.other.login'))).toBe(false);
    expect(await canPublish(game, admin, subject('metrics.ingest.collector'))).toBe(false);
    expect(await canPublish(game, admin, subject('metrics.samples'))).toBe(false);
    expect(await canPublish(game, admin, subject('alerts.config.changed'))).toBe(false);
    // A JetStream publish: the ack comes to its own inbox, and INGEST keeps the message.
    const ack = await game.jetstream().publish(subject('metrics.ingest.game'), JSON.stringify({ samples: [{ name: 'x', value: 1 }] }));
    expect(ack.stream).toBe(stream('INGEST'));
    await expect(game.jetstream().publish(subject('metrics.ingest.other'), '{}', { timeout: 2000 })).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
  }, 60_000);

  it('reads nothing but its own inbox: not another producer’s messages, not another inbox, not the pulled messages', async () => {
    const admin = await connectAs('admin');
    const game = await connectProducer('game');
    expect(await canSubscribe(game, admin, subject('metrics.ingest.other'))).toBe(false);
    expect(await canSubscribe(game, admin, subject('metrics.ingest.>'), subject('metrics.ingest.other'))).toBe(false);
    expect(await canSubscribe(game, admin, subject('events.other.login'))).toBe(false);
    expect(await canSubscribe(game, admin, '_INBOX.>', '_INBOX.abc')).toBe(false);
    // The processor's pulls are delivered into its inbox; the gateway's holds the replies to calls.
    expect(await canSubscribe(game, admin, '_INBOX_processor.>', '_INBOX_processor.abc')).toBe(false);
    expect(await canSubscribe(game, admin, '_INBOX_other.>', '_INBOX_other.abc')).toBe(false);
    expect(await canSubscribe(game, admin, '_INBOX_game.>', '_INBOX_game.abc')).toBe(true);
  }, 60_000);

  it('cannot create, update or delete a stream or a consumer, nor read one', async () => {
    const admin = await connectAs('admin');
    await bootstrapNats(configAs('bootstrap'), quiet);
    const game = await connectProducer('game');
    const jsm = await admin.jetstreamManager();
    const before = await jsm.streams.info(stream('INGEST'));
    const config = { name: stream('MINE'), subjects: [subject('metrics.ingest.game')] };
    expect(await jsApi(game, `$JS.API.STREAM.CREATE.${stream('MINE')}`, config)).toBe('refused');
    expect(await jsApi(game, `$JS.API.STREAM.UPDATE.${stream('INGEST')}`, { ...before.config, max_msgs: 1 })).toBe('refused');
    expect(await jsApi(game, `$JS.API.STREAM.DELETE.${stream('INGEST')}`)).toBe('refused');
    expect(await jsApi(game, `$JS.API.STREAM.PURGE.${stream('INGEST')}`)).toBe('refused');
    expect(await jsApi(game, `$JS.API.STREAM.MSG.GET.${stream('INGEST')}`, { seq: 1 })).toBe('refused');
    expect(await jsApi(game, `$JS.API.CONSUMER.CREATE.${stream('INGEST')}`, { stream_name: stream('INGEST'), config: { ack_policy: 'none' } })).toBe('refused');
    expect(await jsApi(game, '$JS.API.INFO')).toBe('refused');
    expect(await streamNames(jsm)).toEqual([stream('DEADLETTER'), stream('INGEST'), stream('SAMPLES')]);
    expect((await jsm.streams.info(stream('INGEST'))).config.max_msgs).toBe(before.config.max_msgs);
  }, 30_000);

  it('logs in with its seed only: another key is refused', async () => {
    const stranger = newProducerKey('game');
    await expect(connectProducer('game', stranger.seed)).rejects.toThrow(/Authorization Violation/i);
  });
});

describe('streams and consumers belong to the bootstrap identity', () => {
  it('a service user cannot create or change them; the bootstrap can, and the service then binds', async () => {
    const admin = await connectAs('admin');
    const adminJsm = await admin.jetstreamManager();
    for (const s of ['INGEST', 'SAMPLES', 'DEADLETTER']) await adminJsm.streams.delete(stream(s)).catch(() => undefined);

    // The processor may look streams up, not make them; the runtime says what to do instead.
    const processor = await connectAs('processor');
    const jsm = await processor.jetstreamManager();
    const err = await ensureStreams(jsm, new Bus(processor, ns.id).ns).then(() => undefined, (e: unknown) => e);
    expect(isPermissionError(err), String(err)).toBe(true);
    const bus = new Bus(processor, ns.id);
    await expect(prepareStreams(processor, bus, configAs('processor'), quiet)).rejects.toThrow(/nats\.manageStreams to false.*bootstrap/);
    expect(await streamNames(adminJsm)).toEqual([]);

    // With manageStreams false it waits for the bootstrap, then binds.
    // With a longer core.timeout than the bootstrap's: the consumer's ack wait is the bootstrap's, which it keeps to.
    const bindConfig = configAs('processor', { TMON_NATS__MANAGE_STREAMS: 'false', TMON_CORE__TIMEOUT: '120' });
    const missing: string[] = [];
    const logger = { info: () => undefined, warn: (_m: string, meta: { stream?: string; consumer?: string }) => missing.push(meta.stream ?? meta.consumer ?? '') } as unknown as Logger;
    const bound = prepareStreams(processor, bus, bindConfig, logger).then(() => prepareConsumer({ config: bindConfig, bus, logger }, 'processor'));
    await waitFor(() => (missing.length > 0 ? true : undefined), 5000, 'the service to wait for the streams');
    const report = await bootstrapNats(configAs('bootstrap'), quiet);
    expect(report.consumers).toEqual([`${stream('INGEST')}/processor`, `${stream('SAMPLES')}/storage`, `${stream('SAMPLES')}/alert-manager`]);
    expect(await bound).toBe(configAs('bootstrap').core.timeout * 1000);
    expect(missing[0]).toBe(stream('INGEST'));
    expect(await streamNames(adminJsm)).toEqual([stream('DEADLETTER'), stream('INGEST'), stream('SAMPLES')]);
    expect((await adminJsm.consumers.info(stream('SAMPLES'), 'storage')).config.durable_name).toBe('storage');

    // The service may not change or remove what the bootstrap made, nor make another consumer.
    const info = await adminJsm.streams.info(stream('SAMPLES'));
    expect(await jsApi(processor, `$JS.API.STREAM.UPDATE.${stream('SAMPLES')}`, { ...info.config, max_age: 1 })).toBe('refused');
    expect(await jsApi(processor, `$JS.API.STREAM.DELETE.${stream('INGEST')}`)).toBe('refused');
    expect(await jsApi(processor, `$JS.API.CONSUMER.DURABLE.CREATE.${stream('INGEST')}.processor`, { stream_name: stream('INGEST'), config: { durable_name: 'processor', ack_policy: 'none' } })).toBe('refused');
    expect(await jsApi(processor, `$JS.API.CONSUMER.DELETE.${stream('INGEST')}.processor`)).toBe('refused');

    // The bootstrap itself may make and update, not delete, and it carries no messages.
    const bootstrap = await connectAs('bootstrap');
    expect(await jsApi(bootstrap, `$JS.API.STREAM.DELETE.${stream('INGEST')}`)).toBe('refused');
    expect(await canPublish(bootstrap, admin, subject('metrics.ingest.game'))).toBe(false);
    expect(await canSubscribe(bootstrap, admin, subject('metrics.samples'))).toBe(false);
    // Running it again (a second Job, new settings) is an update, not an error.
    await bootstrapNats(configAs('bootstrap'), quiet);
  }, 60_000);

  it('a service’s pull consumer delivers into its prefixed inbox and acks under its user', async () => {
    await bootstrapNats(configAs('bootstrap'), quiet);
    const from = serverLog.length;
    const processor = await connectAs('processor');
    const bus = new Bus(processor, ns.id);
    // The processor may not read _INBOX.>: whatever its pulls get can only arrive under _INBOX_processor.
    const admin = await connectAs('admin');
    expect(await canSubscribe(processor, admin, '_INBOX.>', '_INBOX.abc')).toBe(false);

    const game = await connectProducer('game');
    const seen: string[] = [];
    const consumer = await consumeBatches(bus, 'processor', async (batch: JsMsg[]) => void seen.push(...batch.map((m) => m.string())), {
      maxBatch: 10,
      lingerMs: 5,
      retryDelayMs: 100,
      onError: () => undefined,
    });
    try {
      for (let i = 0; i < 5; i++) await game.jetstream().publish(subject('metrics.ingest.game'), JSON.stringify({ samples: [{ name: 'pull_check', value: i }] }));
      await waitFor(() => (seen.filter((s) => s.includes('pull_check')).length === 5 ? true : undefined), 10_000, 'the pulled messages');
      // Acked: nothing left pending or unacknowledged.
      await waitFor(async () => {
        const info = await (await admin.jetstreamManager()).consumers.info(stream('INGEST'), 'processor');
        return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
      }, 10_000, 'the acks');
    } finally {
      await consumer.stop();
    }
    expect(serverLog.slice(from).split('\n').filter((l) => /Violation/.test(l) && !l.includes('"_INBOX.>"'))).toEqual([]);
  }, 60_000);

  it('a call between services works: the reply comes to the caller’s inbox under allow_responses', async () => {
    const backup = new Bus(await connectAs('backup'), ns.id);
    const gateway = new Bus(await connectAs('api-gateway'), ns.id);
    const from = serverLog.length;
    const sub = backup.serve(CALLS.backupList, async () => ({ backups: [], archives: [{ path: 'a', bytes: 1 }] }), 'backup');
    await backup.nc.flush();
    try {
      expect(await gateway.call(CALLS.backupList, {}, 3000)).toEqual({ backups: [], archives: [{ path: 'a', bytes: 1 }] });
    } finally {
      sub.unsubscribe();
    }
    // The gateway reads the processor's backlog (its consumer's info) for ingest's 429.
    await bootstrapNats(configAs('bootstrap'), quiet);
    const info = await (await gateway.nc.jetstreamManager()).consumers.info(stream('INGEST'), 'processor');
    expect(info.name).toBe('processor');
    expect(serverLog.slice(from)).not.toMatch(/Violation/);
  }, 30_000);
});

describe('the six services under their own users', () => {
  it('wait for the bootstrap, then run on what it made: discovery, calls, the pipeline', async () => {
    const logFrom = serverLog.length;
    const adminJsm = await (await connectAs('admin')).jetstreamManager();
    for (const s of ['INGEST', 'SAMPLES', 'DEADLETTER']) await adminJsm.streams.delete(stream(s)).catch(() => undefined);
    const gatewayPort = await freePort();
    for (const service of SERVICE_NAMES) {
      const env = {
        ...ns.env,
        NATS_URL: natsUrl(service),
        // As compose and k8s run them: the streams and consumers are the bootstrap's.
        TMON_NATS__MANAGE_STREAMS: 'false',
        OPS_PORT: '0',
        GATEWAY_PORT: String(gatewayPort),
        GATEWAY_HOST: '127.0.0.1',
        ADMIN_PASSWORD: 'nats-permissions-admin-pw',
        TMON_COLLECTION__MODE: 'jobs',
        TMON_COLLECTION__INTERVALS__APP: '1',
      };
      procs.push(startServiceProcess(service, env));
    }
    const dump = () => `${serverLog.slice(-3000)}\n${procs.map((p) => `--- ${p.name}\n${p.output().slice(-1500)}`).join('\n')}`;
    // They start before the bootstrap ran, and wait for it (the slower ones may only get there after it ran).
    const waiting = () => procs.filter((p) => p.output().includes('waiting for a stream the NATS bootstrap creates'));
    await waitFor(() => (waiting().length >= 2 ? true : undefined), 120_000, 'services waiting for the streams', 250).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${dump()}`);
    });
    expect(procs.filter((p) => p.child.exitCode !== null).map((p) => p.name)).toEqual([]);

    // The bootstrap as the image runs it (tools/nats-bootstrap.mjs is this file, bundled), as the bootstrap user.
    const bootstrap = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'packages', 'runtime', 'src', 'nats-bootstrap-main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NATS_URL: `nats://bootstrap@127.0.0.1:${port}`, NATS_PASSWORD: password('bootstrap'), NATS_PREFIX: ns.id, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let bootstrapOut = '';
    bootstrap.stdout!.on('data', (d: Buffer) => (bootstrapOut += d.toString()));
    bootstrap.stderr!.on('data', (d: Buffer) => (bootstrapOut += d.toString()));
    const code = await new Promise<number | null>((resolve) => bootstrap.once('exit', resolve));
    expect(code, bootstrapOut).toBe(0);
    expect(bootstrapOut).toContain('NATS streams and durable consumers are in place');

    const base = `http://127.0.0.1:${gatewayPort}`;
    // The gateway finds every service through $SRV discovery, answered under allow_responses.
    let token = '';
    await waitFor(
      async () => {
        if (!token) {
          const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'nats-permissions-admin-pw' }) }).catch(() => undefined);
          if (login?.status !== 200) return undefined;
          token = ((await login.json()) as { token: string }).token;
        }
        // Which instances are up is a signed-in detail.
        const res = await fetch(`${base}/health/details`, { headers: { authorization: `Bearer ${token}` } });
        const body = (await res.json()) as { services?: Record<string, { instances: number }> };
        return SERVICE_NAMES.every((s) => (body.services?.[s]?.instances ?? 0) === 1) ? true : undefined;
      },
      150_000,
      'every service discovered by the gateway',
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${dump()}`);
    });
    // Bound to the bootstrap's consumers, which have the settings this configuration gives.
    for (const p of procs) expect(p.output(), p.name).not.toMatch(/differs from this configuration|refused/);

    // A game's JetStream publish goes through processor and storage into the engine.
    const game = await connectProducer('game');
    const samples = Array.from({ length: 20 }, (_, i) => ({ name: 'perm_check', value: i, tags: { i: String(i) } }));
    await game.jetstream().publish(subject('metrics.ingest.game'), JSON.stringify({ samples }));
    await waitFor(async () => {
      const url = `${TEST_SERVERS.vmUrl}/api/v1/export?${new URLSearchParams({ 'match[]': 'perm_check', extra_label: `tmon_ns=${ns.id}` })}`;
      const lines = (await (await fetch(url)).text()).split('\n').filter(Boolean);
      return lines.length === 20 ? true : undefined;
    }, 30_000, 'the samples stored', 250);

    // The gateway calls backup (request/reply into its own inbox).
    const backups = await fetch(`${base}/backups`, { headers: { authorization: `Bearer ${token}` } });
    expect(backups.status).toBe(200);
    expect(serverLog.slice(logFrom)).not.toMatch(/Violation/);
  }, 300_000);
});
