/**
 * The routes of the k8s NATS cluster (nats-cluster.conf): real nats-servers, each with nats.conf and the rendered
 * cluster block moved to its own ports and directory, route TLS active with certificates made by openssl, and the
 * environment the StatefulSet gives its pods (the server's name, the route password, the route URLs with it, the
 * advertised address). Two servers form a route and carry a message; a third server without TLS, with a
 * certificate of another CA or with a wrong route password is refused both ways; the same third server with the
 * route certificate and password joins. The shipped (commented) rendering passes `nats-server -t` with the
 * StatefulSet's environment, and fails without the route password.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { parseAllDocuments } from 'yaml';
import { freePort, waitFor } from '@terminusa/testkit';
import { NATS_CONFIG_MAP_NAME, NATS_SECRET_NAME } from './manifests.ts';
import {
  NATS_CLUSTER_ADVERTISE_VARIABLE,
  NATS_CLUSTER_CONFIG,
  NATS_CLUSTER_PORT,
  NATS_ROUTE_PASSWORD_VARIABLE,
  NATS_ROUTE_USER,
  NATS_SERVER_NAME_VARIABLE,
  NATS_TLS_DIR,
  NATS_USERS,
  natsPasswordVariable,
  natsRouteUrlVariable,
  renderNatsClusterConfig,
  renderNatsPermissions,
  renderNatsServerConfig,
  type NatsServerTls,
} from './nats-permissions.ts';
import { makeCa, makeCertificate } from '../test-support/test-certificates.ts';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const ROOT = join(import.meta.dirname, '..', '..', '..');
/** The StatefulSet's replicas: every server lists this many routes. */
const REPLICAS = 3;
const password = (user: string) => `routes-${user}-${process.pid}`;
/** URL-safe, as `openssl rand -hex` makes it: it is written into the route URLs. */
const ROUTE_PASSWORD = `route${process.pid}ok`;
const userPasswords = () => Object.fromEntries(NATS_USERS.map((u) => [natsPasswordVariable(u), password(u)]));

interface Slot {
  client: number;
  monitor: number;
  cluster: number;
}

interface Server {
  name: string;
  slot: Slot;
  process: ChildProcess;
  exited: Promise<void>;
  log: string;
}

let dir: string;
/** The StatefulSet's three pods: nats-0 and nats-1 run throughout, the tests put their third server in nats-2's place. */
let slots: Slot[];
const servers: Server[] = [];
const conns: NatsConnection[] = [];
const file = (name: string) => join(dir, name);

/** The route certificate of the test: the pods' names (127.0.0.1 here), for both ends of a route. */
const ROUTE_CERT_EXT = 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth';
const routeTls = (cert = 'route', ca = 'ca'): NatsServerTls => ({ certFile: file(`${cert}.crt`), keyFile: file(`${cert}.key`), caFile: file(`${ca}.crt`), verify: true });

/** Nine distinct free ports on 127.0.0.1. */
async function makeSlots(): Promise<Slot[]> {
  const ports = new Set<number>();
  while (ports.size < REPLICAS * 3) ports.add(await freePort());
  const [...p] = ports;
  return Array.from({ length: REPLICAS }, (_, i) => ({ client: p[3 * i]!, monitor: p[3 * i + 1]!, cluster: p[3 * i + 2]! }));
}

/**
 * Starts one server in `slot`: nats.conf and permissions.conf as rendered, nats-cluster.conf as `cluster` (the
 * rendered file) listening on the slot's cluster port, and the pods' environment with `routePassword`.
 */
async function startServer(name: string, slot: Slot, cluster: string, routePassword = ROUTE_PASSWORD): Promise<Server> {
  const etc = file(name);
  rmSync(etc, { recursive: true, force: true });
  mkdirSync(etc);
  const conf = renderNatsServerConfig()
    .replace('port: 4222', `listen: "127.0.0.1:${slot.client}"`)
    .replace('http_port: 8222', `http: "127.0.0.1:${slot.monitor}"`)
    .replace('store_dir: "/data"', `store_dir: ${JSON.stringify(join(etc, 'js'))}`);
  writeFileSync(join(etc, 'nats.conf'), conf);
  writeFileSync(join(etc, 'permissions.conf'), renderNatsPermissions());
  const listen = `listen: "0.0.0.0:${NATS_CLUSTER_PORT}"`;
  expect(cluster).toContain(listen);
  writeFileSync(join(etc, NATS_CLUSTER_CONFIG), cluster.replace(listen, `listen: "127.0.0.1:${slot.cluster}"`));
  // As the StatefulSet sets it: every route (itself included) with the route password, its own address advertised.
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...userPasswords(),
    [NATS_SERVER_NAME_VARIABLE]: name,
    [NATS_ROUTE_PASSWORD_VARIABLE]: routePassword,
    [NATS_CLUSTER_ADVERTISE_VARIABLE]: `127.0.0.1:${slot.cluster}`,
    ...Object.fromEntries(slots.map((s, i) => [natsRouteUrlVariable(i), `nats-route://${NATS_ROUTE_USER}:${routePassword}@127.0.0.1:${s.cluster}`])),
  };
  const child = spawn(NATS_SERVER, ['-c', join(etc, NATS_CLUSTER_CONFIG)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server: Server = { name, slot, process: child, exited: new Promise((resolve) => child.once('exit', () => resolve())), log: '' };
  child.stderr!.on('data', (d: Buffer) => (server.log += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (server.log += d.toString()));
  servers.push(server);
  await waitFor(() => (server.log.includes('Server is ready') ? true : child.exitCode !== null ? Promise.reject(new Error(server.log)) : undefined), 10_000, `${name} ready`);
  return server;
}

async function stopServer(server: Server): Promise<void> {
  server.process.kill('SIGKILL');
  await server.exited;
}

async function monitor(server: Server, path: string): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${server.slot.monitor}${path}`);
  if (!res.ok) throw new Error(`${server.name} ${path}: ${res.status}`);
  return res.json();
}

/**
 * The servers `server` has a route to, by id. nats-server 2.10 pools several connections per peer (num_routes 3
 * for one peer), 2.9 one: the distinct remote ids count the peers either way.
 */
async function peers(server: Server): Promise<string[]> {
  const routez = await monitor(server, '/routez');
  return [...new Set<string>(routez.routes.map((r: { remote_id: string }) => r.remote_id))].sort();
}

const serverId = async (server: Server): Promise<string> => (await monitor(server, '/varz')).server_id;

/** Waits until each server's routes go to exactly the servers given. */
async function waitForPeers(expected: [Server, Server[]][], what: string): Promise<void> {
  const want = await Promise.all(expected.map(async ([s, ps]) => [s, (await Promise.all(ps.map(serverId))).sort()] as const));
  await waitFor(
    async () => {
      for (const [s, ids] of want) if (JSON.stringify(await peers(s)) !== JSON.stringify(ids)) return undefined;
      return true;
    },
    15_000,
    what,
  );
}

/** `Router connection closed: <reason>` lines of `log` from `from` on, by the remote port of the connection. */
function closedRoutes(log: string, from: number): { port: number; reason: string }[] {
  return [...log.slice(from).matchAll(/\] 127\.0\.0\.1:(\d+) - rid:\d+ - Router connection closed: (.+)$/gm)].map((m) => ({ port: Number(m[1]), reason: m[2]! }));
}

/**
 * Starts a third server in nats-2's place and waits until nats-0 and nats-1 have each refused it both ways: their
 * own route to it (the connection to its cluster port) and its route to them (from another port) closed for
 * `reason`, after logging every one of `causes`. Then neither has a route to it, and it has none.
 */
async function expectRefused(name: string, cluster: string, routePassword: string, reason: RegExp, causes: RegExp[]): Promise<void> {
  const [a, b] = servers;
  const from = new Map(servers.map((s) => [s, s.log.length]));
  const third = await startServer(name, slots[2]!, cluster, routePassword);
  try {
    for (const s of [a!, b!]) {
      await waitFor(
        () => {
          const closed = closedRoutes(s.log, from.get(s)!).filter((c) => reason.test(c.reason));
          const outbound = closed.some((c) => c.port === slots[2]!.cluster);
          const inbound = closed.some((c) => c.port !== slots[2]!.cluster);
          return outbound && inbound ? true : undefined;
        },
        15_000,
        `${s.name} refusing ${name} both ways`,
      );
      for (const cause of causes) expect(s.log.slice(from.get(s)!), s.name).toMatch(cause);
    }
    // The third server retries its routes every second, so a refused attempt can be listed for an instant while
    // it is closed: the refusal holds when, at one look, the routes are only nats-0's and nats-1's to each other.
    const [idA, idB] = [await serverId(a!), await serverId(b!)];
    await waitFor(
      async () => {
        const [pa, pb, pc] = await Promise.all([peers(a!), peers(b!), peers(third)]);
        return JSON.stringify([pa, pb, pc]) === JSON.stringify([[idB], [idA], []]) ? true : undefined;
      },
      15_000,
      `no route to or from ${name}`,
    );
  } finally {
    await stopServer(third);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tmon-nats-routes-'));
  makeCa(dir);
  makeCertificate(dir, 'route', ROUTE_CERT_EXT);
  // The same names, signed by a CA the cluster does not trust.
  makeCa(dir, 'other-ca', 'other CA');
  makeCertificate(dir, 'other-route', ROUTE_CERT_EXT, 'other-ca');
  slots = await makeSlots();
  const cluster = renderNatsClusterConfig({ replicas: REPLICAS, tls: routeTls() });
  expect(cluster).toMatch(/^ {2}tls \{\n {4}cert_file: /m);
  await startServer('nats-0', slots[0]!, cluster);
  await startServer('nats-1', slots[1]!, cluster);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(conns.map((c) => c.close()));
  await Promise.allSettled(servers.map(stopServer));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the NATS cluster routes (nats-cluster.conf)', () => {
  it('two servers form a route over mutual TLS with the route password, and a message crosses it', async () => {
    const [a, b] = servers as [Server, Server];
    await waitForPeers(
      [
        [a, [b]],
        [b, [a]],
      ],
      'the route between nats-0 and nats-1',
    );
    const cluster = (await monitor(a, '/varz')).cluster;
    expect(cluster).toMatchObject({ name: 'terminusa', tls_required: true, tls_verify: true });
    expect(a.log).not.toMatch(/TLS route handshake error|authentication error|Authorization Violation/);

    const connectTo = async (s: Server) => {
      const nc = await connect({ servers: `nats://127.0.0.1:${s.slot.client}`, user: 'admin', pass: password('admin'), reconnect: false });
      conns.push(nc);
      return nc;
    };
    const subject = `tmon.routes.test.${process.pid}`;
    const subscriber = await connectTo(b);
    const received = new Promise<string>((resolve) => subscriber.subscribe(subject, { max: 1, callback: (_err, msg) => resolve(msg.string()) }));
    await subscriber.flush();
    // The subscription reaches nats-0 over the route: then nats-0 forwards what is published to it.
    await waitFor(
      async () => {
        const routez = await monitor(a, '/routez?subs=1');
        return routez.routes.some((r: { subscriptions_list?: string[] }) => r.subscriptions_list?.includes(subject)) ? true : undefined;
      },
      10_000,
      'the subscription on nats-1 known to nats-0',
    );
    const publisher = await connectTo(a);
    publisher.publish(subject, 'across the route');
    await publisher.flush();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no message on nats-1 within 5 s')), 5_000)));
    try {
      expect(await Promise.race([received, timeout])).toBe('across the route');
    } finally {
      clearTimeout(timer);
    }
  });

  it('refuses a third server without TLS (no route certificate), though it has the route password', async () => {
    await expectRefused('nats-2-plain', renderNatsClusterConfig({ replicas: REPLICAS }), ROUTE_PASSWORD, /TLS Handshake Failure/, [/TLS route handshake error/]);
  });

  it('refuses a third server whose route certificate another CA signed, though it has the route password', async () => {
    const cluster = renderNatsClusterConfig({ replicas: REPLICAS, tls: routeTls('other-route', 'other-ca') });
    await expectRefused('nats-2-other-ca', cluster, ROUTE_PASSWORD, /TLS Handshake Failure/, [/TLS route handshake error: .*(certificate|unknown authority)/]);
  });

  it('refuses a third server with the route certificate and a wrong route password', async () => {
    const cluster = renderNatsClusterConfig({ replicas: REPLICAS, tls: routeTls() });
    await expectRefused('nats-2-wrong-password', cluster, `wrong${process.pid}`, /Authentication Failure|Parse Error/, [
      // Its route to them: the password is refused.
      /authentication error - User "route"/,
      // Theirs to it: it refuses theirs.
      /Route Error 'Authorization Violation'/,
    ]);
  });

  it('lets the third server in with the route certificate and password: all three routed to each other', async () => {
    const [a, b] = servers as [Server, Server];
    const c = await startServer('nats-2', slots[2]!, renderNatsClusterConfig({ replicas: REPLICAS, tls: routeTls() }));
    await waitForPeers(
      [
        [a, [b, c]],
        [b, [a, c]],
        [c, [a, b]],
      ],
      'the routes of all three',
    );
  });

  it('the StatefulSet runs nats-cluster.conf with no flags; with its environment the shipped file passes nats-server -t, with route TLS uncommented too, and fails without the route password', () => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'k8s', 'overlays', 'prod', 'nats.yaml'), 'utf8')).map((d) => d.toJS());
    const files = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === NATS_CONFIG_MAP_NAME).data as Record<string, string>;
    const container = docs.find((d) => d.kind === 'StatefulSet').spec.template.spec.containers[0];
    expect(container.args).toEqual([`--config=/etc/nats/${NATS_CLUSTER_CONFIG}`]);
    expect(container.envFrom).toEqual([{ secretRef: { name: NATS_SECRET_NAME } }]);
    const shipped = files[NATS_CLUSTER_CONFIG]!;
    expect(shipped).toBe(renderNatsClusterConfig({ replicas: REPLICAS }));
    expect(shipped).not.toMatch(/^ {2}tls \{/m);
    expect(shipped).toMatch(/^ {2}# tls \{$/m);

    const etc = file('shipped');
    mkdirSync(etc);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(etc, name), text.replace('store_dir: "/data"', `store_dir: ${JSON.stringify(join(etc, 'js'))}`));
    /** The pod's environment as the kubelet makes it: the Secret (envFrom), then env with its $(VAR) references expanded. */
    const podEnv = (secret: Record<string, string>) => {
      const env: Record<string, string> = { ...secret };
      for (const e of container.env as { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]) {
        if (e.valueFrom) {
          expect(e.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
          env[e.name] = 'nats-0';
        } else {
          env[e.name] = e.value!.replace(/\$\((\w+)\)/g, (ref, name: string) => env[name] ?? ref);
        }
      }
      return env;
    };
    const secret = { ...userPasswords(), [NATS_ROUTE_PASSWORD_VARIABLE]: ROUTE_PASSWORD };
    const env = podEnv(secret);
    expect(env[natsRouteUrlVariable(1)]).toBe(`nats-route://route:${ROUTE_PASSWORD}@nats-1.nats-headless.monitoring.svc.cluster.local:${NATS_CLUSTER_PORT}`);
    expect(env[NATS_CLUSTER_ADVERTISE_VARIABLE]).toBe(`nats-0.nats-headless.monitoring.svc.cluster.local:${NATS_CLUSTER_PORT}`);
    const check = (name: string, environment: Record<string, string>) =>
      spawnSync(NATS_SERVER, ['-t', '-c', join(etc, name)], { env: { PATH: process.env.PATH, ...environment }, encoding: 'utf8' });
    const ok = check(NATS_CLUSTER_CONFIG, env);
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);

    // Route TLS uncommented, with the files in place.
    const uncommented = shipped
      .replace(/^ {2}# (tls \{| {2}\w+: .*|\})$/gm, '  $1')
      .replaceAll(`${NATS_TLS_DIR}/route.crt`, file('route.crt'))
      .replaceAll(`${NATS_TLS_DIR}/route.key`, file('route.key'))
      .replaceAll(`${NATS_TLS_DIR}/route-ca.crt`, file('ca.crt'));
    expect(uncommented).toMatch(/^ {2}tls \{\n {4}cert_file: /m);
    writeFileSync(join(etc, 'tls.conf'), uncommented);
    const tls = check('tls.conf', env);
    expect(tls.status, tls.stderr + tls.stdout).toBe(0);

    // A Secret without the key: the kubelet leaves $(TMON_NATS_ROUTE_PASSWORD) in the URLs, the server refuses to start.
    const withoutRoutePassword = podEnv(userPasswords());
    expect(withoutRoutePassword[natsRouteUrlVariable(0)]).toContain(`$(${NATS_ROUTE_PASSWORD_VARIABLE})`);
    const bad = check(NATS_CLUSTER_CONFIG, withoutRoutePassword);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(new RegExp(NATS_ROUTE_PASSWORD_VARIABLE));
  });
});
