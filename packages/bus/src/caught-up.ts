import type { Bus } from './bus.ts';
import type { ConsumerName } from './subjects.ts';

/** How a wait for a durable consumer to catch up is bounded. */
export interface CatchUpOptions {
  /** Messages still undelivered at which it counts as caught up. */
  maxPending: number;
  /** Gives up waiting after this long (a backlog that never shrinks must not hold the caller for ever). */
  timeoutMs: number;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Resolves once the durable consumer `name` has at most `maxPending` messages not yet delivered, or after
 * `timeoutMs`: whether it caught up. Work judged on what the consumer brings (an alert for data that stopped) waits
 * for it after a restart, when the stream holds what came while no replica ran.
 */
export async function whenCaughtUp(bus: Bus, name: ConsumerName, options: CatchUpOptions): Promise<boolean> {
  const { stream } = bus.consumerTarget(name);
  const consumer = await bus.js.consumers.get(stream, name);
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    if ((await consumer.info()).num_pending <= options.maxPending) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1000));
  }
}
