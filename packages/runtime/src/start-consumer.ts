import { Counter } from 'prom-client';
import {
  CONSUMERS,
  SUBJECTS,
  consumeBatches,
  deadLetterOf,
  deadLetterSourceOf,
  type BatchConsumer,
  type BatchConsumerOptions,
  type BatchHandler,
  type ConsumerName,
  type JsMsg,
} from '@terminusa/bus';
import { prepareConsumer } from './jetstream-setup.ts';
import type { ServiceContext } from './run-service.ts';

/**
 * Starts a service's intake: its durable consumer prepared (created in development, bound where the NATS bootstrap
 * made it) and pulled in batches until shutdown. A message its handler trips over (isFaultOfTheMessage) is taken
 * apart from the messages beside it; one of a producer's (INGEST) that keeps failing so alone while others are
 * handled goes to the dead letters (`core.deadLetterAfter`), counted and logged, where `tmon dead-letters replay`
 * can send it again. A
 * SAMPLES message never does: its dead letter would be cut to fit and could not be replayed, so it keeps coming
 * back until a release handles it. Start it last, once every stage it feeds is ready; it stops first.
 */
export async function startConsumer(
  ctx: Pick<ServiceContext, 'config' | 'bus' | 'logger' | 'onStop' | 'registry'>,
  name: ConsumerName,
  handler: BatchHandler,
  options: Omit<BatchConsumerOptions, 'poison'>,
): Promise<BatchConsumer> {
  const ackWaitMs = await prepareConsumer(ctx, name);
  const setAsideCount = new Counter({
    name: 'tmon_consumer_dead_lettered_total',
    help: 'Producers\' messages the service tripped over alone core.deadLetterAfter times, others handled between, and dead-lettered',
    labelNames: ['consumer'],
    registers: [ctx.registry],
  });
  const setAside = async (msg: JsMsg, err: unknown, failures: number): Promise<void> => {
    const subject = ctx.bus.ns.relative(msg.subject) ?? msg.subject;
    const reason = `handling failed ${failures} times on this message alone while others were handled: ${err instanceof Error ? err.message : String(err)}`;
    const refusal = { subject, receivedAt: receivedAtOf(msg), rejections: [{ field: '(message)', reason }], accepted: 0, handlingFailures: failures };
    await ctx.bus.persist(SUBJECTS.deadLetter, [deadLetterSourceOf(subject)], deadLetterOf(refusal, msg.data, ctx.bus.maxBodyBytes), `deadletter:${name}:${ctx.bus.consumerTarget(name).stream}:${msg.seq}`);
    setAsideCount.inc({ consumer: name });
    ctx.logger.error('message dead-lettered after failing alone', { consumer: name, subject, seq: msg.seq, failures, err });
  };
  const after = ctx.config.core.deadLetterAfter;
  const poison = CONSUMERS[name].stream === 'INGEST' ? { after, counts: isFaultOfTheMessage, setAside } : { after, counts: isFaultOfTheMessage };
  // Marked in progress well inside the ack wait, so a batch that is merely slow is not sent to another replica too: the
  // consumer's own (the bootstrap's core.timeout) where it is shorter than this service's core.timeout.
  const progressEveryMs = options.progressEveryMs ?? Math.min(ctx.config.core.timeout * 1000, ackWaitMs) / 3;
  const consumer = await consumeBatches(ctx.bus, name, handler, { ...options, progressEveryMs, poison });
  ctx.onStop(`${name} consumer`, () => consumer.stop());
  return consumer;
}

/**
 * Whether a handler's failure may be the message's own: the program tripping over what it holds (a TypeError, a
 * RangeError, …) or an error that says so (`poison: true`). A dependency's failure never is, however often it
 * strikes one message: with Redis down the processor's messages of known series still went through (it remembers
 * them), so a game event failing alone between them was dead-lettered after a 30-second outage.
 */
export function isFaultOfTheMessage(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof ReferenceError || (err as { poison?: unknown } | null)?.poison === true;
}

/** When the stream stored `msg`, epoch ms: the time a sample or event without its own `ts` is given. */
const receivedAtOf = (msg: JsMsg) => Math.floor(msg.info.timestampNanos / 1e6);
