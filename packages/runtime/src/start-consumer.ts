import { consumeBatches, type BatchConsumer, type BatchConsumerOptions, type BatchHandler, type ConsumerName } from '@terminusa/bus';
import { prepareConsumer } from './jetstream-setup.ts';
import type { ServiceContext } from './run-service.ts';

/**
 * Starts a service's intake: its durable consumer prepared (created in development, bound where the NATS bootstrap
 * made it) and pulled in batches until shutdown. Start it last, once every stage it feeds is ready; it stops first.
 */
export async function startConsumer(
  ctx: Pick<ServiceContext, 'config' | 'bus' | 'logger' | 'onStop'>,
  name: ConsumerName,
  handler: BatchHandler,
  options: BatchConsumerOptions,
): Promise<BatchConsumer> {
  await prepareConsumer(ctx, name);
  const consumer = await consumeBatches(ctx.bus, name, handler, options);
  ctx.onStop(`${name} consumer`, () => consumer.stop());
  return consumer;
}
