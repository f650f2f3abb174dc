import { samplesOf, SUBJECTS, type BatchHandler, type Bus } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import type { AlertStateCommands } from './alert-state-commands.ts';
import { evaluateBatch } from './evaluate-batch.ts';
import type { RuleSet } from '../rules/rule-set.ts';

/** Counts what the evaluation of consumed batches did. */
export interface EvaluationCounters {
  /** Rule and series (or group) pairs evaluated in one batch. */
  evaluated(n: number): void;
  /** Starts timing one batch; the returned function ends it. */
  startTimer(): () => void;
}

/**
 * Evaluates each consumed batch of sample messages against the stream rules in force. A message that cannot hold
 * a sample any rule watches is skipped undecoded (RuleSet.mayMatch); one that does not decode is skipped too, since
 * the storage service dead-letters it. A batch that fails is redelivered and evaluated again.
 */
export function evaluateSampleBatches(bus: Bus, rules: () => RuleSet, state: AlertStateCommands, alerts: Pick<Config['alerts'], 'levels' | 'staleAfter'>, counters: EvaluationCounters): BatchHandler {
  return async (messages) => {
    const end = counters.startTimer();
    const ruleSet = rules();
    const samples = messages.flatMap((m) => {
      if (!ruleSet.mayMatch(m.data)) return [];
      const decoded = bus.decode(SUBJECTS.samples, m.subject, m.data);
      return decoded.ok ? samplesOf(decoded.value) : [];
    });
    counters.evaluated(await evaluateBatch(samples, ruleSet, state, alerts));
    end();
  };
}
