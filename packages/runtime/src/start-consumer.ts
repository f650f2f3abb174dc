import { Counter } from 'prom-client';
import {
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
 * made it) and pulled in batches until shutdown. A message its handler keeps failing on alone, while others are
 * handled or its dependencies answering, goes to the dead letters (`core.deadLetterAfter`), counted and logged. Start it last, once every stage
 * it feeds is ready; it stops first.
 */
export async function startConsumer(
  ctx: Pick<ServiceContext, 'config' | 'bus' | 'logger' | 'onStop' | 'registry' | 'health'>,
  name: ConsumerName,
  handler: BatchHandler,
  options: Omit<BatchConsumerOptions, 'poison'>,
): Promise<BatchConsumer> {
  await prepareConsumer(ctx, name);
  const setAsideCount = new Counter({
    name: 'tmon_consumer_dead_lettered_total',
    help: 'Queued messages the service failed to handle alone core.deadLetterAfter times, others handled between, and dead-lettered',
    labelNames: ['consumer'],
    registers: [ctx.registry],
  });
  const setAside = async (msg: JsMsg, err: unknown, failures: number): Promise<void> => {
    const subject = ctx.bus.ns.relative(msg.subject) ?? msg.subject;
    const reason = `handling failed ${failures} times on this message alone while others were handled: ${err instanceof Error ? err.message : String(err)}`;
    const letter = deadLetterOf({ subject, receivedAt: Date.now(), rejections: [{ field: '(message)', reason }], accepted: 0 }, msg.data, ctx.bus.maxBodyBytes);
    await ctx.bus.persist(SUBJECTS.deadLetter, [deadLetterSourceOf(subject)], letter, `deadletter:${name}:${ctx.bus.consumerTarget(name).stream}:${msg.seq}`);
    setAsideCount.inc({ consumer: name });
    ctx.logger.error('message dead-lettered after failing alone', { consumer: name, subject, seq: msg.seq, failures, err });
  };
  // A failure counts against a message when every dependency answers: in an outage, none does.
  const healthy = async () => Object.values((await ctx.health.report()).checks).every((check) => check.ok);
  const consumer = await consumeBatches(ctx.bus, name, handler, { ...options, poison: { after: ctx.config.core.deadLetterAfter, healthy, setAside } });
  ctx.onStop(`${name} consumer`, () => consumer.stop());
  return consumer;
}
