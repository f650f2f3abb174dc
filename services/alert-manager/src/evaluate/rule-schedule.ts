import type { Redis } from 'ioredis';
import type { PromqlRule } from '@terminusa/alerting';
import type { Logger } from '@terminusa/runtime';
import type { RuleSet } from '../rules/rule-set.ts';
import { evaluatePromqlRule, type PromqlRuleDeps } from './promql-rules.ts';

/** What the schedule needs. */
export interface RuleScheduleOptions {
  rules: () => RuleSet;
  redis: Redis;
  /** The Redis key claimed for one rule's evaluation at one instant. */
  claimKey: (rule: string, at: number) => string;
  instance: string;
  evaluate: (rule: PromqlRule, at: number) => Promise<unknown>;
  onError: (rule: PromqlRule, err: unknown) => void;
  /** How often the schedule looks for evaluations that are due. */
  tickMs?: number;
  logger: Logger;
}

/**
 * Evaluates each PromQL rule once per interval, at the interval's aligned instants (as Prometheus' groups are),
 * on one replica: every replica looks, and the first to claim the rule and instant in Redis evaluates it, so
 * replicas never do the same work and the rules go on while any replica runs. An evaluation that fails is not
 * repeated; the next instant's evaluation is the retry, as in Prometheus.
 */
export function scheduleRuleEvaluations(options: RuleScheduleOptions): { stop(): Promise<void> } {
  const lastAt = new Map<string, number>();
  const running = new Set<Promise<unknown>>();
  const busy = new Set<string>();
  const tick = async () => {
    const now = Date.now();
    for (const rule of options.rules().promql) {
      const at = Math.floor(now / rule.interval) * rule.interval;
      if ((lastAt.get(rule.name) ?? -1) >= at) continue;
      // An instant that comes while the rule's last evaluation still runs here is skipped, as Prometheus skips a
      // group's missed iterations; one applied late elsewhere is not applied (alert-condition.lua).
      if (busy.has(rule.name)) continue;
      lastAt.set(rule.name, at);
      const claimed = await options.redis.set(options.claimKey(rule.name, at), options.instance, 'PX', rule.interval * 2, 'NX');
      if (claimed !== 'OK') continue;
      busy.add(rule.name);
      const evaluation = options.evaluate(rule, at).catch((err: unknown) => options.onError(rule, err));
      running.add(evaluation);
      void evaluation.finally(() => {
        running.delete(evaluation);
        busy.delete(rule.name);
      });
    }
  };
  let ticking: Promise<void> | undefined;
  const timer = setInterval(() => {
    ticking ??= tick()
      .catch((err: unknown) => void options.logger.error('rule schedule failed', { err }))
      .finally(() => (ticking = undefined));
  }, options.tickMs ?? 1000);
  return {
    async stop() {
      clearInterval(timer);
      await ticking;
      await Promise.all(running);
    },
  };
}

/** What the PromQL rules' schedule counts: each evaluation by the rule's kind and whether it succeeded. */
export type CountPromqlEvaluation = (kind: PromqlRule['type'], outcome: 'ok' | 'failed') => void;

/** Evaluates the PromQL alert and recording rules in force through the engine, each on its interval by one replica. */
export function schedulePromqlRules(rules: () => RuleSet, deps: PromqlRuleDeps, instance: string, count: CountPromqlEvaluation, logger: Logger): { stop(): Promise<void> } {
  return scheduleRuleEvaluations({
    rules,
    redis: deps.state.redis,
    claimKey: (rule, at) => deps.state.keys.evaluationClaim(rule, at),
    instance,
    evaluate: async (rule, at) => {
      await evaluatePromqlRule(rule, at, deps);
      count(rule.type, 'ok');
    },
    onError: (rule, err) => {
      count(rule.type, 'failed');
      logger.warn('PromQL rule evaluation failed; the next interval tries again', { rule: rule.name, err: (err as Error).message });
    },
    logger,
  });
}
