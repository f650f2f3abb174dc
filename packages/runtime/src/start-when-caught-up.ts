import { whenCaughtUp, type ConsumerName } from '@terminusa/bus';
import type { ServiceContext } from './run-service.ts';

/** A longer backlog is not waited for: work judged on the consumer's messages starts anyway, and says so. */
const CATCH_UP_AT_MOST_MS = 5 * 60_000;

/**
 * Starts what `start` makes once the durable consumer `name` has at most `maxPending` messages undelivered (or
 * after five minutes), and registers their stop as `what`. For work judged on what the consumer brings (an alert
 * for data that stopped coming), which a backlog left by a restart would make wrong. Returns at once.
 */
export function startWhenCaughtUp(
  ctx: Pick<ServiceContext, 'bus' | 'logger' | 'onStop'>,
  name: ConsumerName,
  what: string,
  maxPending: number,
  start: () => { stop(): Promise<void> }[],
): void {
  const waiting = new AbortController();
  let started: { stop(): Promise<void> }[] = [];
  const begun = whenCaughtUp(ctx.bus, name, { maxPending, timeoutMs: CATCH_UP_AT_MOST_MS, signal: waiting.signal })
    .then((caughtUp) => void (caughtUp || ctx.logger.warn(`the ${name} consumer has not caught up; ${what} start anyway`, { waitedMs: CATCH_UP_AT_MOST_MS })))
    .catch((err: unknown) => void (waiting.signal.aborted || ctx.logger.error(`cannot tell whether the ${name} consumer caught up; ${what} start anyway`, { err })))
    .then(() => {
      if (!waiting.signal.aborted) started = start();
    });
  ctx.onStop(what, async () => {
    waiting.abort();
    await begun;
    await Promise.all(started.map((s) => s.stop()));
  });
}
