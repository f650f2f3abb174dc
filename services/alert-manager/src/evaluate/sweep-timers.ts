import { randomUUID } from 'node:crypto';
import type { Logger } from '@terminusa/runtime';
import type { AlertStateCommands } from './alert-state-commands.ts';
import type { RuleSet } from '../rules/rule-set.ts';

const SWEEP_BATCH = 500;

/** Runs every timer that is due: `for`, keep_firing_for, no-data and re-notification. Safe on every replica at once. */
export async function sweepTimers(state: AlertStateCommands, rules: RuleSet, now = Date.now()): Promise<number> {
  const due = await state.redis.zrangebyscore(state.keys.timers, '-inf', now, 'LIMIT', 0, SWEEP_BATCH);
  for (const stateKey of due) {
    const rule = /:state:([^:]+):/.exec(stateKey)?.[1] ?? '';
    await state.sweep(stateKey, randomUUID(), now, rules.rule(rule) !== undefined);
  }
  return due.length;
}

/** Sweeps every `intervalMs` until stopped. */
export function scheduleSweeps(state: AlertStateCommands, rules: () => RuleSet, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    running ??= sweepTimers(state, rules())
      .catch((err: unknown) => logger.error('timer sweep failed', { err }))
      .finally(() => (running = undefined));
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
