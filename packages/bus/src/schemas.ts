import { z } from 'zod';
import { ALERT_STATES, ALERT_TRANSITION_KINDS, CHANNELS, SEVERITIES } from './alert-vocabulary.ts';

/** Prometheus metric-name rule. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** The engine's label that keeps one namespace's series apart on a shared engine (tests; empty in production). */
export const NAMESPACE_LABEL = 'tmon_ns';
/**
 * Prometheus' label-name rule, used for tag keys, less the names it reserves (`__` first) and the namespace label:
 * the engine would read a `__name__` tag as the sample's name, and a `tmon_ns` one as its namespace (two series the
 * rollups took for one).
 */
export const TAG_KEY = new RegExp(`^(?!__|${NAMESPACE_LABEL}$)[a-zA-Z_][a-zA-Z0-9_]*$`);
/** What {@link TAG_KEY} asks, in words for a refusal. */
export const TAG_KEY_RULE = `tag keys must match [a-zA-Z_][a-zA-Z0-9_]*, not begin with __ and not be ${NAMESPACE_LABEL}`;
/**
 * Most characters of a tag key that ingest takes. Prometheus sets none, but a key is held with every series (the
 * processor's memory of admitted series, the series table): a producer's 400 KB keys, each with new values, filled
 * the processor's memory, and a scraped 512 KB label name made every message of its scrape, `up` too, too large to
 * publish. 128 is far past any label name an exporter writes.
 */
export const MAX_TAG_KEY_LENGTH = 128;

/** A tag key as ingest takes it: {@link TAG_KEY}, at most {@link MAX_TAG_KEY_LENGTH} characters. */
export function tagKeySchema() {
  return z
    .string()
    // Checked first and alone: a key too long is refused for that, whatever else it holds.
    .max(MAX_TAG_KEY_LENGTH, { error: `tag keys are at most ${MAX_TAG_KEY_LENGTH} characters`, abort: true })
    .regex(TAG_KEY, TAG_KEY_RULE);
}
/** A source is one subject token. */
export const SOURCE = /^[A-Za-z0-9_-]{1,64}$/;

const MAX_TAGS = 32;

/** The character a tag value may not hold: PostgreSQL's text and jsonb cannot store it (the series table keeps tags). */
export const TAG_VALUE_FORBIDDEN = '\u0000';

/**
 * Text of at most `maxLength` characters that PostgreSQL and Redis can store: without {@link TAG_VALUE_FORBIDDEN}
 * (text and jsonb cannot hold it: one tag value with it made every rollup run fail on its minute, one acknowledgement
 * comment every later event of its alert) and well-formed UTF-16 (no lone surrogate, which JSON can carry as
 * `\ud800`: jsonb and Redis' cjson refuse one). `what` names the text in the messages.
 */
export function storableText(maxLength: number, what: string) {
  return z
    .string()
    .max(maxLength, `${what} are at most ${maxLength} characters`)
    .refine((v) => !v.includes(TAG_VALUE_FORBIDDEN), `${what} may not contain the NUL character (U+0000)`)
    .refine((v) => v.isWellFormed(), `${what} may not contain a lone surrogate (\\ud800-\\udfff not in a pair): not Unicode text`);
}

/** A tag value of at most `maxLength` characters: {@link storableText}. */
export function tagValueSchema(maxLength: number) {
  return storableText(maxLength, 'tag values');
}

/** Tags of a sample: Prometheus-style keys, string values. */
export const TagsSchema = z
  .record(tagKeySchema(), tagValueSchema(256))
  .refine((tags) => Object.keys(tags).length <= MAX_TAGS, `at most ${MAX_TAGS} tags`);

/**
 * One sample as a game service publishes it: `ts` (epoch ms) and `tags` are optional. `stale: true` in place of a
 * value marks the series stale at `ts` (Prometheus' staleness marker): it has stopped, so queries at and after that
 * time no longer see its last value, and `absent()` is true at once rather than after the lookback window.
 */
export const IngestSampleSchema = z
  .strictObject({
    name: z.string().max(200, 'names are at most 200 characters').regex(METRIC_NAME, 'names must match [a-zA-Z_:][a-zA-Z0-9_:]*'),
    value: z.number().refine(Number.isFinite, 'must be a finite number').optional(),
    stale: z.literal(true, 'must be true (a staleness marker) or absent').optional(),
    ts: z.number().int('must be integer epoch milliseconds').positive('must be epoch milliseconds').optional(),
    tags: TagsSchema.optional(),
  })
  .refine((s) => s.stale === undefined || s.value === undefined, { path: ['value'], message: 'a staleness marker (stale: true) has no value' })
  .refine((s) => s.stale !== undefined || s.value !== undefined, { path: ['value'], message: 'must be a finite number' });
/** One sample as a producer sends it. */
export type IngestSample = z.infer<typeof IngestSampleSchema>;

/** Body of `metrics.ingest.<source>` and of `POST /metrics/custom`. */
export const IngestMessageSchema = z.strictObject({
  samples: z.array(z.unknown()).min(1, 'at least one sample'),
});

/** Body of \`events.<source>.<type>\`: one game event; \`value\` (optional) is summed into \`events_value_total\`. */
export const GameEventSchema = z.looseObject({
  ts: z.number().int().positive().optional(),
  value: z.number().refine(Number.isFinite, 'must be a finite number').optional(),
  tags: TagsSchema.optional(),
});
/** A game event. */
export type GameEvent = z.infer<typeof GameEventSchema>;

/**
 * The value a normalized sample carries as a staleness marker: NaN, as in Prometheus (whose marker is one NaN bit
 * pattern). Every value that enters the suite is finite, so on the bus a NaN can only be a marker.
 */
export const STALE_MARKER = Number.NaN;

/** Whether a normalized sample is a staleness marker rather than a value. */
export function isStaleMarker(sample: { value: number }): boolean {
  return Number.isNaN(sample.value);
}

/** A validated sample with every field present (a staleness marker's value is {@link STALE_MARKER}); tags sorted by key. */
export const SampleSchema = z.strictObject({
  name: z.string().regex(METRIC_NAME),
  value: z.union([z.number(), z.nan()], { error: 'expected number (or NaN, a staleness marker)' }),
  ts: z.number().int(),
  tags: z.record(z.string(), z.string()),
});
/** A normalized sample as it travels between processor, storage and alerting. */
export type Sample = z.infer<typeof SampleSchema>;

/** The accepted samples of one ingest message, under that message's idempotency id. */
export const SamplePartSchema = z.strictObject({
  /** `<INGEST stream>:<seq>`: the same on every redelivery, so storage keeps each part once. */
  id: z.string().min(1),
  source: z.string().regex(SOURCE),
  samples: z.array(SampleSchema),
});
/** The samples of one ingest message. */
export type SamplePart = z.infer<typeof SamplePartSchema>;

/**
 * Body of `metrics.samples`: the accepted parts of a batch of ingest messages. One message per processed batch
 * (split to fit the server's max payload) rather than one per ingest message, because every bus message costs
 * the processor, the server and each consumer about as much as a hundred samples do.
 */
export const SampleBatchSchema = z.strictObject({
  parts: z.array(SamplePartSchema).min(1),
});
/** A normalized batch. */
export type SampleBatch = z.infer<typeof SampleBatchSchema>;

/** The samples of every part of a batch, in order. */
export function samplesOf(batch: SampleBatch): Sample[] {
  return batch.parts.length === 1 ? batch.parts[0]!.samples : batch.parts.flatMap((p) => p.samples);
}

/** One reason a message or sample was refused. */
export const RejectionSchema = z.strictObject({
  /** Index of the refused sample, absent when the whole message was refused. */
  index: z.number().int().nonnegative().optional(),
  field: z.string(),
  reason: z.string(),
});
/** A reason for refusal, with the field that was wrong. */
export type Rejection = z.infer<typeof RejectionSchema>;

/** Body of `metrics.deadletter.<source>`: the raw refused message and why. */
export const DeadLetterSchema = z.strictObject({
  subject: z.string(),
  receivedAt: z.number().int(),
  rejections: z.array(RejectionSchema).min(1),
  accepted: z.number().int().nonnegative(),
  /** Rejections past those listed, when listing them all would not fit in one message. */
  rejectionsNotListed: z.number().int().positive().optional(),
  raw: z.string(),
  rawEncoding: z.enum(['utf8', 'base64']),
  /** Bytes of the message after those `raw` keeps, when all of it would not fit in one message. */
  rawBytesNotKept: z.number().int().positive().optional(),
  /** Set when no check refused it but its handling failed this many times alone (core.deadLetterAfter). */
  handlingFailures: z.number().int().positive().optional(),
});
/** A refused message kept for inspection. */
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/** Reply of a service's discovery `health` endpoint and body of its ops `/health`. */
export const HealthReportSchema = z.strictObject({
  service: z.string(),
  instance: z.string(),
  status: z.enum(['ok', 'degraded', 'down']),
  live: z.boolean(),
  ready: z.boolean(),
  checks: z.record(z.string(), z.strictObject({ ok: z.boolean(), latencyMs: z.number().optional(), error: z.string().optional() })),
});
/** The health of one service instance. */
export type HealthReport = z.infer<typeof HealthReportSchema>;

/** An alert as the alert-manager publishes it and the gateway serves it. */
export const AlertSchema = z.strictObject({
  id: z.string(),
  rule: z.string(),
  severity: z.enum(SEVERITIES),
  state: z.enum(ALERT_STATES),
  labels: z.record(z.string(), z.string()),
  value: z.number(),
  summary: z.string(),
  message: z.string(),
  startsAt: z.number(),
  firedAt: z.number().optional(),
  resolvedAt: z.number().optional(),
  ack: z.strictObject({ by: z.string(), at: z.number(), comment: z.string().optional() }).optional(),
  channels: z.array(z.enum(CHANNELS)),
});
/** An alert. */
export type Alert = z.infer<typeof AlertSchema>;

/** Body of `alerts.events`: one alert transition (a change in an alert's life), for dashboards and other consumers. */
export const AlertTransitionSchema = z.strictObject({
  kind: z.enum(ALERT_TRANSITION_KINDS),
  seq: z.number().int(),
  at: z.number(),
  alert: AlertSchema,
});
/** An alert transition. */
export type AlertTransition = z.infer<typeof AlertTransitionSchema>;

/** One message to on-call, as every channel sends it and `alerts.notifications.dashboard` carries it: one alert, or a group that shares its group labels. */
export const NotificationSchema = z.strictObject({
  /** Stable id of this notification (group and window), used as the idempotency key by receivers. */
  id: z.string(),
  status: z.enum(['firing', 'resolved']),
  /** True when this repeats an unacknowledged firing alert. */
  repeat: z.boolean(),
  groupLabels: z.record(z.string(), z.string()),
  alerts: z.array(AlertSchema),
});
/** A notification. */
export type Notification = z.infer<typeof NotificationSchema>;

/** Body of `alerts.config.changed`: rules or silences changed; replicas reload them. */
export const AlertConfigChangedSchema = z.strictObject({ what: z.enum(['rules', 'silences']), by: z.string() });
