import type { ConsumerMessages, JsMsg } from 'nats';
import type { Bus } from './bus.ts';
import type { ConsumerName } from './subjects.ts';

/** Handles a batch of messages; must make their effect durable before it resolves. */
export type BatchHandler = (messages: JsMsg[]) => Promise<void>;

/** How a batch consumer groups messages. */
export interface BatchConsumerOptions {
  /** Most messages handed to the handler at once. */
  maxBatch: number;
  /** Milliseconds to wait for more messages once the first one of a batch is here. */
  lingerMs: number;
  /** Milliseconds before a failed batch is delivered again. */
  retryDelayMs: number;
  onError: (err: unknown, batch: JsMsg[]) => void;
}

/** A running batch consumer. */
export interface BatchConsumer {
  /** Stops pulling, finishes (and acks) the batch in hand, and returns once nothing is in flight. */
  stop(): Promise<void>;
}

/**
 * Pulls from a shared durable consumer and hands messages to `handler` in batches.
 * Every replica of a service pulls from the same durable, so JetStream gives each message to one of them;
 * messages are acked only after the handler resolved, and redelivered after a failure or a crash.
 */
export async function consumeBatches(bus: Bus, name: ConsumerName, handler: BatchHandler, options: BatchConsumerOptions): Promise<BatchConsumer> {
  const { stream } = bus.consumerTarget(name);
  const consumer = await bus.js.consumers.get(stream, name);
  let buffer: JsMsg[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;

  const handle = async (batch: JsMsg[]): Promise<void> => {
    try {
      await handler(batch);
      for (const m of batch) m.ack();
    } catch (err) {
      options.onError(err, batch);
      for (const m of batch) m.nak(options.retryDelayMs);
    }
  };

  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (flushing) return;
    flushing = (async () => {
      while (buffer.length > 0) {
        const batch = buffer.slice(0, options.maxBatch);
        buffer = buffer.slice(batch.length);
        await handle(batch);
      }
    })().finally(() => {
      flushing = undefined;
    });
  };

  const messages: ConsumerMessages = await consumer.consume({
    max_messages: options.maxBatch * 2,
    callback: (msg) => {
      buffer.push(msg);
      if (buffer.length >= options.maxBatch) flush();
      else timer ??= setTimeout(flush, options.lingerMs);
    },
  });

  return {
    async stop() {
      await messages.close();
      flush();
      while (flushing) await flushing;
    },
  };
}
