import { randomUUID } from 'node:crypto';
import type { PromqlRule } from '@terminusa/alerting';
import { persistSamples, type Bus, type IngestSample, type MessageLimits } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import { NAMESPACE_LABEL, WrittenSeries, type VictoriaMetrics } from '@terminusa/metric-store';
import type { AlertStateCommands } from './alert-state-commands.ts';
import { channelsFor } from '../rules/rule-set.ts';

/** The source subject token of the samples recording rules write (`metrics.ingest.rules`). */
export const RECORDING_SOURCE = 'rules';

/** What evaluating a PromQL rule needs. */
export interface PromqlRuleDeps {
  engine: VictoriaMetrics;
  state: AlertStateCommands;
  bus: Bus;
  levels: Config['alerts']['levels'];
  /** The INGEST messages a recording rule's results go in. */
  messageLimits: MessageLimits;
}

/** A result series' labels, sorted, without its name and the engine's namespace label: what identifies its alert. */
function seriesLabels(metric: Readonly<Record<string, string>>): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const key of Object.keys(metric).sort()) if (key !== '__name__' && key !== NAMESPACE_LABEL) labels[key] = metric[key]!;
  return labels;
}

/**
 * One evaluation of a PromQL alert rule at `at` (epoch ms): every series the expression returns is a breach of its
 * own alert, and every active alert of the rule whose series it no longer returns is not (pending ends, firing
 * resolves after keep_firing_for). Returns how many series breached.
 */
export async function evaluateAlertRule(rule: Extract<PromqlRule, { type: 'promql' }>, at: number, deps: PromqlRuleDeps): Promise<number> {
  const result = await deps.engine.query(rule.expr, at);
  const meta = (labels: Record<string, string>) => ({
    rule: rule.name,
    severity: rule.severity,
    labels: JSON.stringify({ ...labels, ...rule.labels, alertname: rule.labels.alertname ?? rule.name }),
    channels: JSON.stringify(channelsFor(rule, deps.levels)),
    summaryTpl: rule.summary,
    messageTpl: rule.message,
    renotifyMs: deps.levels[rule.severity].timeout * 1000,
    forMs: rule.for,
    keepMs: rule.keepFiringFor,
    type: rule.type,
  });
  const breaching = new Map<string, { labels: Record<string, string>; value: number }>();
  // Two series with the same labels once the name is dropped are one alert (Prometheus refuses such a result).
  for (const r of result) {
    const labels = seriesLabels(r.metric);
    breaching.set(JSON.stringify(labels), { labels, value: r.value });
  }
  const ended = (await deps.state.activeGroups(rule.name)).filter((group) => !breaching.has(group));
  const pipeline = deps.state.redis.pipeline();
  for (const [group, { labels, value }] of breaching) deps.state.conditionIn(pipeline, rule.name, group, randomUUID(), at, meta(labels), true, value);
  for (const group of ended) deps.state.conditionIn(pipeline, rule.name, group, randomUUID(), at, meta(JSON.parse(group) as Record<string, string>), false, 0);
  for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
  return breaching.size;
}

/**
 * One evaluation of a recording rule at `at`: the expression's series become samples of `record` at `at`,
 * published into the pipeline like any producer's (validated, stored, alerted on), and each series the last
 * evaluation wrote that this one does not gets a staleness marker at `at`, as Prometheus writes one: queries stop
 * seeing it at once. Their message ids come from the rule and the instant, so an evaluation repeated after a crash
 * is stored once. Returns how many samples, markers included.
 */
export async function evaluateRecordingRule(rule: Extract<PromqlRule, { type: 'record' }>, at: number, deps: PromqlRuleDeps): Promise<number> {
  const written = new WrittenSeries(deps.state.redis, deps.state.keys.recorded(rule.name), rule.interval);
  const samples: IngestSample[] = [];
  for (const r of await deps.engine.query(rule.expr, at)) {
    // The pipeline stores finite numbers only (as Prometheus' NaN results of a division by zero are left out).
    if (Number.isFinite(r.value)) samples.push({ name: rule.record, value: r.value, ts: at, tags: { ...seriesLabels(r.metric), ...rule.labels } });
  }
  samples.push(...(await written.markersFor(samples, at)));
  await persistSamples(deps.bus, RECORDING_SOURCE, samples, deps.messageLimits, `record:${rule.name}:${at}`);
  await written.remember(samples);
  return samples.length;
}

/** One evaluation of either kind of PromQL rule. */
export function evaluatePromqlRule(rule: PromqlRule, at: number, deps: PromqlRuleDeps): Promise<number> {
  return rule.type === 'promql' ? evaluateAlertRule(rule, at, deps) : evaluateRecordingRule(rule, at, deps);
}
