import type { Redis } from 'ioredis';
import type { JetStreamManager } from 'nats';
import { Namespace, type ConsumerName, type StreamName } from '@terminusa/bus';

/** One durable consumer of the suite inside a namespace. */
type Durable = readonly [stream: StreamName, consumer: ConsumerName];

/** Messages still waiting for, or delivered but not acknowledged by, each durable consumer, named for an error. */
export async function consumerWork(jsm: JetStreamManager, natsPrefix: string, durables: readonly Durable[]): Promise<[string, number][]> {
  const ns = new Namespace(natsPrefix);
  const work: [string, number][] = [];
  for (const [stream, name] of durables) {
    const info = await jsm.consumers.info(ns.stream(stream), name);
    work.push([`pending ${stream} messages of ${name}`, info.num_pending], [`unacknowledged ${stream} messages of ${name}`, info.num_ack_pending]);
  }
  return work;
}

/**
 * The outbox relay's share of an alert outbox stream: entries no replica has read yet, and entries read but not
 * acknowledged (a killed replica's, until another claims them). An entry acknowledged but not yet deleted is done.
 */
export async function outboxWork(redis: Redis, outbox: string): Promise<[string, number][]> {
  const groups = (await redis.xinfo('GROUPS', outbox)) as unknown[][];
  const relay = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]))).find((g) => g.name === 'relay');
  if (!relay) throw new Error(`no relay group on ${outbox}`);
  const unread = await redis.xrange(outbox, `(${String(relay['last-delivered-id'])}`, '+', 'COUNT', 1);
  return [
    ['unread outbox entries', unread.length],
    ['unacknowledged outbox entries', Number(relay.pending)],
  ];
}

/** Throws naming the work still in hand, so waitFor reports what was left when it gives up; true when there is none. */
function idle(what: string, work: [string, number][]): true {
  const inHand = work.filter(([, n]) => n > 0);
  if (inHand.length > 0) throw new Error(`${what} still has ${inHand.map(([thing, n]) => `${n} ${thing}`).join(', ')}`);
  return true;
}

/** Resolves when the processor and storage consumers have nothing waiting or unacknowledged; throws naming what is left. */
export async function ingestPipelineIdle(jsm: JetStreamManager, natsPrefix: string): Promise<true> {
  return idle('the ingest pipeline', await consumerWork(jsm, natsPrefix, [['INGEST', 'processor'], ['SAMPLES', 'storage']]));
}

/**
 * Resolves when the alert-managers have nothing in hand, and throws naming what they still have otherwise: samples
 * waiting or unacknowledged on their consumer, state changes in the outbox (`outbox`, the alert keys' outbox) not yet
 * relayed, notification groups or deliveries queued, delayed or running in BullMQ. Read from the first stage on,
 * since each stage hands work on before it lets go of it: work that moves on between two reads is still seen. A
 * replica killed with work in hand leaves it pending until another takes it.
 */
export async function alertPipelineIdle(jsm: JetStreamManager, redis: Redis, ns: { natsPrefix: string; redisPrefix: string; outbox: string }): Promise<true> {
  const work = await consumerWork(jsm, ns.natsPrefix, [['SAMPLES', 'alert-manager']]);
  work.push(...(await outboxWork(redis, ns.outbox)));
  const queue = `${ns.redisPrefix}bull:alert-notifications`;
  for (const list of ['wait', 'active', 'paused']) work.push([`${list} jobs`, await redis.llen(`${queue}:${list}`)]);
  for (const set of ['delayed', 'prioritized', 'waiting-children']) work.push([`${set} jobs`, await redis.zcard(`${queue}:${set}`)]);
  return idle('the alert pipeline', work);
}
