import { randomUUID } from 'node:crypto';
import { repeatEvery, type Logger } from '@terminusa/runtime';
import type { Rule } from '@terminusa/alerting';
import type { AlertStateCommands, SweptRule } from './alert-state-commands.ts';
import { groupDefinition, writtenGroupDefinition, type RuleSet } from '../rules/rule-set.ts';

const SWEEP_BATCH = 500;

/** The rule a state key (`…state:<rule>:<group>`) belongs to. */
const ruleOf = (stateKey: string) => /:state:([^:]+):/.exec(stateKey)?.[1] ?? '';

/** What a sweep is told of `rule` as it is now; undefined when it is gone. */
export function sweptRule(rule: Rule | undefined): SweptRule | undefined {
  if (!rule) return undefined;
  return { type: rule.type, definition: groupDefinition(rule), writtenDefinition: writtenGroupDefinition(rule), ...(rule.type === 'nodata' ? { nodataMs: rule.for } : {}) };
}

/**
 * Runs every timer that is due: `for`, keep_firing_for, no-data and re-notification. Safe on every replica at once.
 * Silence is judged at `intakeAt`, how far this replica's intake has come: with NATS away for minutes, judged at the
 * clock, every firing alert resolved (its series looked stale) and every no-data rule fired, and all of it again once
 * the backlog came in.
 */
export async function sweepTimers(state: AlertStateCommands, rules: RuleSet, now = Date.now(), intakeAt = now): Promise<number> {
  const due = await state.redis.zrangebyscore(state.keys.timers, '-inf', now, 'LIMIT', 0, SWEEP_BATCH);
  for (const stateKey of due) {
    await state.sweep(stateKey, randomUUID(), now, sweptRule(rules.rule(ruleOf(stateKey))), intakeAt);
  }
  return due.length;
}

/**
 * Sweeps every record of a no-data rule now, due or not, so each is judged and timed by its rule's `for` as it is
 * now: a silent group is never evaluated, and a `for` made shorter left its timer at the old, later time.
 */
export async function retimeNoDataRecords(state: AlertStateCommands, rules: RuleSet, now = Date.now(), intakeAt = now): Promise<number> {
  let swept = 0;
  for (const stateKey of await state.redis.zrange(state.keys.timers, 0, -1)) {
    const rule = rules.rule(ruleOf(stateKey));
    if (rule?.type !== 'nodata') continue;
    await state.sweep(stateKey, randomUUID(), now, sweptRule(rule), intakeAt);
    swept++;
  }
  return swept;
}

/**
 * Ends the pending and firing alerts of rules no longer in `rules` (deleted, renamed, disabled), of another type now
 * (a threshold rule made a PromQL one evaluates other states) or, for no-data rules, making their groups otherwise. An acknowledged alert has no timer of its own, so the
 * sweep of due timers never came to it: it stayed firing, and a critical one inhibited its host's warnings, for ever.
 * Returns how many ended.
 */
export async function endAlertsOfMissingRules(state: AlertStateCommands, rules: RuleSet, now = Date.now()): Promise<number> {
  let ended = 0;
  for (const stateKey of await state.redis.zrange(state.keys.active, 0, -1)) {
    const rule = rules.rule(ruleOf(stateKey));
    const [type, definition] = await state.redis.hmget(stateKey, 'type', 'def');
    const sameDefinition = !definition || definition === groupDefinition(rule) || definition === writtenGroupDefinition(rule);
    if (rule !== undefined && (type ?? rule.type) === rule.type && sameDefinition) continue;
    await state.sweep(stateKey, randomUUID(), now, undefined);
    ended++;
  }
  return ended;
}

/** Sweeps every `intervalMs` until stopped; each rule set of other rules (a reload, the first) ends the alerts of rules it lacks. */
export function scheduleSweeps(state: AlertStateCommands, rules: () => RuleSet, intervalMs: number, intakeClock: () => number, logger: Logger): { stop(): Promise<void> } {
  // By the rules' names and types, not the set: the rules are read again every 5 s into a new set, and every replica
  // then scanned every active alert every 5 s.
  let checked: string | undefined;
  const sweep = async () => {
    const current = rules();
    const now = Date.now();
    if (current.kinds !== checked) {
      await endAlertsOfMissingRules(state, current, now);
      await retimeNoDataRecords(state, current, now, intakeClock());
      checked = current.kinds;
    }
    await sweepTimers(state, current, now, intakeClock());
  };
  return repeatEvery(intervalMs, sweep, (err) => logger.error('timer sweep failed', { err }));
}
