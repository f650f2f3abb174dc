import { z } from 'zod';
import { DurationSchema, durationMs } from '@terminusa/config';
import { METRIC_NAME, TAG_KEY } from '@terminusa/bus';

/** Severities of the seed's alert_levels. */
export const SEVERITIES = ['critical', 'warning', 'info'] as const;
/** An alert's severity. */
export type Severity = (typeof SEVERITIES)[number];

/** Notification channels. */
export const CHANNELS = ['slack', 'email', 'webhook', 'dashboard'] as const;
/** A notification channel. */
export type ChannelName = (typeof CHANNELS)[number];

const Duration = DurationSchema.transform((d) => durationMs(d));

/** One tag matcher: equality, inequality or a (fully anchored) regular expression. */
export const MatcherSchema = z
  .strictObject({
    tag: z.string().regex(TAG_KEY, 'tag keys must match [a-zA-Z_][a-zA-Z0-9_]*'),
    op: z.enum(['=', '!=', '=~', '!~']).default('='),
    value: z.string(),
  })
  .superRefine((m, ctx) => {
    if (m.op !== '=~' && m.op !== '!~') return;
    try {
      new RegExp(`^(?:${m.value})$`);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `not a regular expression: ${(err as Error).message}` });
    }
  });
/** A tag matcher. */
export type Matcher = z.infer<typeof MatcherSchema>;

const common = {
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, 'rule names are a letter then letters, digits, _ or -'),
  metric: z.string().regex(METRIC_NAME, 'metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*'),
  matchers: z.array(MatcherSchema).default([]),
  /** Evaluate per group of these tags instead of per series. */
  groupBy: z.array(z.string().regex(TAG_KEY)).optional(),
  severity: z.enum(SEVERITIES),
  summary: z.string().max(500).default('{{alertname}}'),
  message: z.string().max(4000).default('{{alertname}}: {{value}}'),
  labels: z.record(z.string().regex(TAG_KEY), z.string()).default({}),
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

/** An alert rule; `type` defaults to `threshold`. */
export const RuleSchema = z
  .preprocess(
    (v) => (v && typeof v === 'object' && !Array.isArray(v) && !('type' in v) ? { ...v, type: 'threshold' } : v),
    z.discriminatedUnion('type', [ThresholdRuleSchema, NoDataRuleSchema]),
  )
  .superRefine((rule, ctx) => {
    if (rule.type === 'threshold' && rule.aggregation !== 'last' && rule.window <= 0) {
      ctx.addIssue({ code: 'custom', path: ['window'], message: `aggregation ${rule.aggregation} needs a window` });
    }
  });
/** A validated alert rule (durations in milliseconds). */
export type Rule = z.infer<typeof RuleSchema>;
/** A rule as written in a file or an API request. */
export type RuleInput = z.input<typeof RuleSchema>;

/** The rules file: `rules: [...]`. */
export const RulesFileSchema = z.strictObject({ rules: z.array(z.unknown()) });
