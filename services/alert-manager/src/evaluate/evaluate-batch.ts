import { randomUUID } from 'node:crypto';
import { isStaleMarker, type Sample } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import type { AlertStateCommands } from './alert-state-commands.ts';
import { channelsFor, groupDefinition, groupTags, type RuleSet } from '../rules/rule-set.ts';

/** A group's samples per script call, at most, as (series, ts, value) triples: spread arguments overflow past about 130,000. */
const TRIPLES_PER_CALL = 3 * 10_000;

/**
 * Evaluates a batch of samples against the rules that match them, as the batch arrives: samples are grouped
 * per rule and series (or group), and each group is evaluated by one atomic script, all in one round trip.
 * A breach of a rule without `for` is a firing alert when this resolves. A staleness marker says a series
 * stopped, not what it measured: no threshold judges it, and to a no-data rule it is no data.
 */
export async function evaluateBatch(samples: readonly Sample[], rules: RuleSet, state: AlertStateCommands, alerts: Pick<Config['alerts'], 'levels' | 'staleAfter'>, now = Date.now()): Promise<number> {
  const { levels } = alerts;
  const entries = new Map<string, { rule: ReturnType<RuleSet['matching']>[number]; group: Record<string, string>; triples: (string | number)[] }>();
  for (const sample of samples) {
    if (isStaleMarker(sample)) continue;
    for (const rule of rules.matching(sample)) {
      const group = groupTags(rule, sample.tags);
      const id = `${rule.name}\u0000${JSON.stringify(group)}`;
      let entry = entries.get(id);
      if (!entry) entries.set(id, (entry = { rule, group, triples: [] }));
      entry.triples.push(JSON.stringify(sample.tags), sample.ts, sample.value);
    }
  }
  if (entries.size === 0) return 0;
  const pipeline = state.redis.pipeline();
  for (const { rule, group, triples } of entries.values()) {
    const groupKey = JSON.stringify(group);
    const meta = {
      rule: rule.name,
      severity: rule.severity,
      labels: JSON.stringify({ ...group, ...rule.labels, alertname: rule.name }),
      channels: JSON.stringify(channelsFor(rule, levels)),
      summaryTpl: rule.summary,
      messageTpl: rule.message,
      renotifyMs: levels[rule.severity].timeout * 1000,
      forMs: rule.type === 'threshold' ? rule.for : 0,
      keepMs: rule.type === 'threshold' ? rule.keepFiringFor : 0,
      type: rule.type,
      def: groupDefinition(rule),
      ...(rule.type === 'threshold'
        ? { agg: rule.aggregation, windowMs: rule.window, cmp: rule.comparator, threshold: rule.threshold, staleMs: Math.max(rule.window, alerts.staleAfter * 1000) }
        : { nodataMs: rule.for }),
    };
    // As if the batch had come in parts (a batch's bounds are arbitrary): one call with a fleet's samples overflowed the stack.
    for (let first = 0; first < triples.length; first += TRIPLES_PER_CALL) {
      state.evaluateIn(pipeline, rule.name, groupKey, randomUUID(), now, meta, triples.slice(first, first + TRIPLES_PER_CALL));
    }
  }
  const results = (await pipeline.exec()) ?? [];
  for (const [err] of results) if (err) throw err;
  return entries.size;
}
