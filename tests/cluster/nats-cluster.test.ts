/**
 * Issue #8, part 5: the INGEST path survives the loss of a JetStream node.
 *
 * Starts a real 3-node NATS cluster (three nats-server processes), creates the INGEST stream and the
 * processor's durable consumer with 3 replicas, publishes 10,000 samples in 100 JetStream messages,
 * SIGKILLs the stream leader halfway, keeps publishing (retrying with the same msgID), then consumes
 * everything and checks that nothing is missing or doubled and that a survivor leads the stream.
 *
 * The stream and consumer are made by the suite's own `ensureStreams` / `ensureConsumer` with 3 replicas.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { ensureConsumer, ensureStreams, Namespace } from '@terminusa/bus';
import { freePort, waitFor } from '@terminusa/testkit';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';
const MESSAGES = 100;
const SAMPLES_PER_MESSAGE = 100;
const KILL_AFTER = 50;
const DURABLE = 'processor' as const;

interface Node {
  name: string;
  port: number;
  clusterPort: number;
  storeDir: string;
  proc?: ChildProcess;
  exited?: Promise<void>;
  log: string[];
}

const ns = new Namespace(`clu${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`);
const streamName = ns.stream('INGEST');
const subject = ns.subject('metrics.ingest.cluster-test');
const nodes: Node[] = [];
let tmp: string;
let nc: NatsConnection | undefined;

function startNode(node: Node): void {
  const routes = nodes.filter((n) => n !== node).map((n) => `nats://127.0.0.1:${n.clusterPort}`).join(',');
  const proc = spawn(
    NATS_SERVER,
    ['-a', '127.0.0.1', '-p', String(node.port), '-js', '-sd', node.storeDir, '--server_name', node.name,
      '--cluster_name', 'tmon-test', '--cluster', `nats://127.0.0.1:${node.clusterPort}`, '--routes', routes],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    node.log.push(chunk);
    if (node.log.length > 200) node.log.shift();
  });
  node.proc = proc;
  node.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
}

async function killNode(node: Node): Promise<void> {
  const proc = node.proc;
  if (!proc) return;
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  await node.exited;
}

function tailLogs(): string {
  return nodes.map((n) => `--- ${n.name} ---\n${n.log.join('').split('\n').slice(-15).join('\n')}`).join('\n');
}

async function streamLeader(jsm: JetStreamManager): Promise<string | undefined> {
  const info = await jsm.streams.info(streamName);
  return info.cluster?.leader || undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tmon-nats-cluster-'));
  const ports = new Set<number>();
  while (ports.size < 6) ports.add(await freePort());
  const [p1, p2, p3, c1, c2, c3] = [...ports];
  for (const [i, [port, clusterPort]] of ([[p1, c1], [p2, c2], [p3, c3]] as const).entries()) {
    nodes.push({ name: `n${i + 1}`, port: port!, clusterPort: clusterPort!, storeDir: join(tmp, `n${i + 1}`), log: [] });
  }
  for (const node of nodes) startNode(node);

  nc = await waitFor(
    () => connect({ servers: nodes.map((n) => `nats://127.0.0.1:${n.port}`), reconnectTimeWait: 100, maxReconnectAttempts: -1, timeout: 2_000 }),
    30_000,
    'a connection to the cluster',
    250,
  );
  const jsm = await nc.jetstreamManager({ timeout: 5_000, checkAPI: false });
  // The meta leader exists once the JetStream API answers with account info.
  await waitFor(async () => (await jsm.getAccountInfo()) ?? undefined, 45_000, 'a JetStream meta leader', 250);
}, 60_000);

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await Promise.all(nodes.map(killNode));
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, 30_000);

describe('3-node NATS cluster', () => {
  it('keeps every ingest message exactly once when the stream leader is killed mid-stream', async () => {
    const conn = nc!;
    const jsm = await conn.jetstreamManager({ timeout: 5_000, checkAPI: false });
    const js = conn.jetstream({ timeout: 5_000 });

    // The suite's own stream and consumer setup, as every service runs it at start (nats.replicas = 3).
    await waitFor(() => ensureStreams(jsm, ns, { replicas: 3 }).then(() => true), 30_000, 'the R3 streams to be created', 250);
    await waitFor(
      () => ensureConsumer(jsm, ns, DURABLE, { ackWaitSeconds: 30, core: { queueSize: 1_000, batchSize: 100 }, replicas: 3 }).then(() => true),
      30_000,
      'the R3 processor consumer to be created',
      250,
    );
    // A second start (another replica) must not scale anything back.
    await ensureStreams(jsm, ns, { replicas: 3 });
    const leader = await waitFor(() => streamLeader(jsm), 30_000, 'a stream leader', 100);
    const info = await jsm.streams.info(streamName);
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas ?? []).toHaveLength(2);

    const victim = nodes.find((n) => n.name === leader)!;
    expect(victim).toBeDefined();
    let killed: Promise<void> | undefined;
    let retries = 0;
    const publishDeadline = Date.now() + 60_000;
    for (let i = 0; i < MESSAGES; i++) {
      if (i === KILL_AFTER) killed = killNode(victim);
      const samples = Array.from({ length: SAMPLES_PER_MESSAGE }, (_, j) => ({ name: 'cluster_test_value', value: i * SAMPLES_PER_MESSAGE + j, tags: { msg: String(i) } }));
      const data = new TextEncoder().encode(JSON.stringify({ samples }));
      const msgID = `cluster-test-${i}`;
      // Retry (same msgID, so JetStream dedups) while a new leader is elected.
      for (;;) {
        try {
          await js.publish(subject, data, { msgID, timeout: 5_000 });
          break;
        } catch (err) {
          retries++;
          if (Date.now() > publishDeadline) throw new Error(`publish of ${msgID} kept failing: ${String(err)}\n${tailLogs()}`);
          await sleep(200);
        }
      }
    }
    await killed;

    const survivors = nodes.filter((n) => n !== victim).map((n) => n.name);
    const newLeader = await waitFor(
      async () => {
        const l = await streamLeader(jsm);
        return l && survivors.includes(l) ? l : undefined;
      },
      30_000,
      'a new stream leader among the survivors',
      200,
    );
    expect(survivors).toContain(newLeader);
    expect(newLeader).not.toBe(victim.name);
    const after = await waitFor(
      async () => {
        const s = await jsm.streams.info(streamName);
        return s.state.messages === MESSAGES ? s : undefined;
      },
      30_000,
      `the stream to hold ${MESSAGES} messages`,
      200,
    );
    expect(after.state.messages).toBe(MESSAGES);

    // Consume everything with the durable consumer and ack each message.
    const consumer = await waitFor(() => js.consumers.get(streamName, DURABLE), 30_000, 'the durable consumer', 200);
    const seen = new Map<string, number>();
    let deliveries = 0;
    let samples = 0;
    const sampleValues = new Set<number>();
    const consumeDeadline = Date.now() + 45_000;
    while (seen.size < MESSAGES) {
      if (Date.now() > consumeDeadline) throw new Error(`consumed only ${seen.size} of ${MESSAGES} messages\n${tailLogs()}`);
      try {
        const batch = await consumer.fetch({ max_messages: MESSAGES, expires: 2_000 });
        for await (const m of batch) {
          deliveries++;
          const id = m.headers?.get('Nats-Msg-Id') ?? '';
          seen.set(id, (seen.get(id) ?? 0) + 1);
          const body = m.json<{ samples: { value: number }[] }>();
          samples += body.samples.length;
          for (const s of body.samples) sampleValues.add(s.value);
          await m.ackAck({ timeout: 5_000 });
        }
      } catch {
        // The consumer leader may still be moving; fetch again.
        await sleep(200);
      }
    }
    // Nothing more can come: the consumer has no message left to deliver and none delivered but unacknowledged (each
    // ack was confirmed), so there is no redelivery to wait for.
    await waitFor(
      async () => {
        const state = await jsm.consumers.info(streamName, DURABLE);
        return state.num_pending === 0 && state.num_ack_pending === 0 ? true : undefined;
      },
      15_000,
      'the consumer to have nothing pending or unacknowledged',
      200,
    );

    const expectedIds = Array.from({ length: MESSAGES }, (_, i) => `cluster-test-${i}`);
    expect([...seen.keys()].sort()).toEqual([...expectedIds].sort());
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(deliveries).toBe(MESSAGES);
    expect(samples).toBe(MESSAGES * SAMPLES_PER_MESSAGE);
    expect(sampleValues.size).toBe(MESSAGES * SAMPLES_PER_MESSAGE);
    // Work queue: acked messages are gone.
    await waitFor(async () => ((await jsm.streams.info(streamName)).state.messages === 0 ? true : undefined), 15_000, 'the work queue to drain', 200);
    console.log(`killed ${victim.name} (stream leader) after ${KILL_AFTER} messages; new leader ${newLeader}; ${retries} publish retries`);
  }, 90_000);
});
