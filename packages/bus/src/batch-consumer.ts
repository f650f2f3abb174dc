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
  /** Batches handled at the same time (default 1). */
  concurrency?: number;
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
  const inFlight = new Set<Promise<void>>();
  const concurrency = Math.max(1, options.concurrency ?? 1);

  const handle = async (batch: JsMsg[]): Promise<void> => {
    try {
      await handler(batch);
      for (const m of batch) m.ack();
    } catch (err) {
      options.onError(err, batch);
      for (const m of batch) m.nak(options.retryDelayMs);
    }
  };

  // Up to `concurrency` batches are handled at once, so the store is working while the next batch is decoded.
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    while (buffer.length > 0 && inFlight.size < concurrency) {
      const batch = buffer.slice(0, options.maxBatch);
      buffer = buffer.slice(batch.length);
      const running: Promise<void> = handle(batch).finally(() => {
        inFlight.delete(running);
        if (buffer.length >= options.maxBatch) flush();
        else if (buffer.length > 0) timer ??= setTimeout(flush, options.lingerMs);
      });
      inFlight.add(running);
    }
  };

  const messages: ConsumerMessages = await consumer.consume({
    max_messages: options.maxBatch * (Math.max(1, options.concurrency ?? 1) + 1),
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
      while (inFlight.size > 0 || buffer.length > 0) {
        await Promise.all(inFlight);
        flush();
      }
    },
  };
}
