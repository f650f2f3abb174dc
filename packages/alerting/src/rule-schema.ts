import { z } from 'zod';
import { DurationSchema, durationMs } from '@terminusa/config';
import { CHANNELS, METRIC_NAME, SEVERITIES, storableText, tagKeySchema } from '@terminusa/bus';
import { labelRegexProblem } from './label-regex.ts';
import { MAX_PROMQL_LENGTH, promqlSyntaxError } from './promql-syntax.ts';

/** The longest `for`, `keepFiringFor`, window or interval a rule may have: a year. */
const MAX_RULE_DURATION_MS = 366 * 86_400_000;

// Bounded: a window of 100000000000w (accepted, any number of digits) made the state script's expiry out of range,
// every batch holding its metric failed for good and stream alerting stopped; a PromQL interval of 400 digits, NaN.
const Duration = DurationSchema.transform((d) => durationMs(d)).refine((ms) => Number.isSafeInteger(ms) && ms <= MAX_RULE_DURATION_MS, 'at most a year (366d)');

/** One tag matcher: equality, inequality or a fully anchored regular expression in RE2 syntax (label-regex.ts). */
export const MatcherSchema = z
  .strictObject({
    tag: tagKeySchema(),
    op: z.enum(['=', '!=', '=~', '!~']).default('='),
    value: storableText(65_536, 'matcher values'),
  })
  .superRefine((m, ctx) => {
    if (m.op !== '=~' && m.op !== '!~') return;
    // RE2 syntax, compiled as matchesAll will run it (and cached for it): invalid, unsupported or too long is refused.
    const problem = labelRegexProblem(m.value);
    if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
  });
/** A tag matcher. */
export type Matcher = z.infer<typeof MatcherSchema>;

/**
 * The most matchers a rule or a silence has: each regex one may take ~50 ms to compile (label-regex.ts) and is then
 * run against every sample or alert, and the compiled patterns' cache holds 1,000; real ones have a handful.
 */
export const MAX_MATCHERS = 32;

/** The matchers of a rule or silence: at most {@link MAX_MATCHERS}, counted before any is parsed (none compiled past it). */
export const MatchersSchema = z.array(MatcherSchema).max(MAX_MATCHERS, `at most ${MAX_MATCHERS} matchers`);

/** A recording rule's name: a metric name, optionally followed by -<n>. An alerting rule's names are among these. */
export const RECORDING_RULE_NAME = /^[A-Za-z_:][A-Za-z0-9_:-]{0,199}$/;

const common = {
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, 'rule names are a letter then letters, digits, _ or -'),
  metric: z.string().regex(METRIC_NAME, 'metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*'),
  matchers: MatchersSchema.default([]),
  /** Evaluate per group of these tags instead of per series. */
  groupBy: z.array(tagKeySchema()).optional(),
  severity: z.enum(SEVERITIES),
  summary: storableText(500, 'summaries').default('{{alertname}}'),
  message: storableText(4000, 'messages').default('{{alertname}}: {{value}}'),
  labels: z.record(tagKeySchema(), storableText(65_536, 'label values')).default({}),
  /** Send to these channels instead of the severity's. */
  channels: z.array(z.enum(CHANNELS)).min(1).optional(),
  enabled: z.boolean().default(true),
};

/** A threshold rule: an aggregation over a window compared with a threshold. */
export const ThresholdRuleSchema = z.strictObject({
  ...common,
  type: z.literal('threshold'),
  aggregation: z.enum(['last', 'avg', 'min', 'max', 'sum', 'count', 'rate']).default('last'),
  window: Duration.default(0),
  comparator: z.enum(['>', '>=', '<', '<=', '==', '!=']),
  threshold: z.number().refine(Number.isFinite, 'must be a finite number'),
  /** How long the condition must hold before the alert fires (pending until then). */
  for: Duration.default(0),
  /** How long a firing alert stays firing after the condition clears, against flapping. */
  keepFiringFor: Duration.default(0),
});

/** A no-data rule: fires when a series (or group) sends nothing for `for`. */
export const NoDataRuleSchema = z.strictObject({
  ...common,
  type: z.literal('nodata'),
  for: Duration.refine((ms) => ms > 0, 'a no-data rule needs a duration'),
});

/**
 * A PromQL expression, checked against Prometheus' grammar: text PostgreSQL can store (a NUL made saving the rule
 * fail with a 500), and no longer than the engine takes, both checked before it is parsed (the pipe stops there).
 */
const PromqlExpr = storableText(MAX_PROMQL_LENGTH, 'PromQL expressions')
  .min(1, 'required')
  .pipe(
    z.string().superRefine((expr, ctx) => {
      const problem = promqlSyntaxError(expr);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  );

/** How often a PromQL rule is evaluated through the engine (Prometheus' default evaluation interval is 1m; ours 15 s). */
const EVALUATION_INTERVAL_MS = 15_000;

/**
 * A PromQL alert rule, as Prometheus' `alert:` rules: every series `expr` returns at an evaluation is a breach of
 * its own alert (labelled with the series' labels), with the same states, silences, grouping and channels as a
 * threshold rule's.
 */
export const PromqlRuleSchema = z.strictObject({
  name: common.name,
  type: z.literal('promql'),
  expr: PromqlExpr,
  for: Duration.default(0),
  keepFiringFor: Duration.default(0),
  interval: Duration.default(EVALUATION_INTERVAL_MS).refine((ms) => ms >= 1000, 'at least 1s'),
  severity: common.severity,
  summary: common.summary,
  message: common.message,
  labels: common.labels,
  channels: common.channels,
  enabled: common.enabled,
});

/** A recording rule, as Prometheus' `record:` rules: `expr`'s series written every interval as samples of `record`. */
export const RecordingRuleSchema = z.strictObject({
  // Named after the series it records, which may hold colons (`job:requests:rate5m`).
  name: z.string().regex(RECORDING_RULE_NAME, 'recording rule names are a metric name, optionally followed by -<n>'),
  type: z.literal('record'),
  record: z.string().regex(METRIC_NAME, 'metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*'),
  expr: PromqlExpr,
  interval: Duration.default(EVALUATION_INTERVAL_MS).refine((ms) => ms >= 1000, 'at least 1s'),
  labels: common.labels,
  enabled: common.enabled,
});

/** An alert or recording rule; `type` defaults to `threshold`. */
export const RuleSchema = z
  .preprocess(
    (v) => (v && typeof v === 'object' && !Array.isArray(v) && !('type' in v) ? { ...v, type: 'threshold' } : v),
    z.discriminatedUnion('type', [ThresholdRuleSchema, NoDataRuleSchema, PromqlRuleSchema, RecordingRuleSchema]),
  )
  .superRefine((rule, ctx) => {
    if (rule.type === 'threshold' && rule.aggregation !== 'last' && rule.window <= 0) {
      ctx.addIssue({ code: 'custom', path: ['window'], message: `aggregation ${rule.aggregation} needs a window` });
    }
  });
/** A validated rule (durations in milliseconds). */
export type Rule = z.infer<typeof RuleSchema>;
/** A rule evaluated on the metric stream as samples arrive: threshold and no-data rules. */
export type StreamRule = Extract<Rule, { type: 'threshold' | 'nodata' }>;
/** A rule evaluated through the engine every interval: PromQL alert and recording rules. */
export type PromqlRule = Extract<Rule, { type: 'promql' | 'record' }>;
/** A rule that raises alerts: every rule but a recording rule. */
export type AlertRule = Exclude<Rule, { type: 'record' }>;
/** A rule as written in a file or an API request. */
export type RuleInput = z.input<typeof RuleSchema>;

/** The suite's rules file: `rules: [...]`. */
export const RulesFileSchema = z.strictObject({ rules: z.array(z.unknown()) });
