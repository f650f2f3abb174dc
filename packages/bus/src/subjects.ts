import type { z } from 'zod';
import {
  DeadLetterSchema,
  IngestMessageSchema,
  SampleBatchSchema,
  HealthReportSchema,
  AlertTransitionSchema,
  NotificationSchema,
  AlertConfigChangedSchema,
  GameEventSchema,
} from './schemas.ts';
import { SAMPLE_BATCH_BYTES, sampleMessagesInFlight, storageMessagesInFlight, type InFlightLimits } from './sample-batches.ts';
import { decodeSampleBatch, encodeSampleBatch, isPackedSampleBatch } from './sample-batch-codec.ts';

/** A subject family: how its name is built, the schema of its messages, and the stream that keeps them (if any). */
export interface SubjectDef<S extends z.ZodType, P extends string[]> {
  /** Subject (or wildcard filter) relative to the namespace prefix. */
  readonly filter: string;
  readonly build: (...params: P) => string;
  readonly schema: S;
  /** The wire form of subjects whose messages carry many items, when not JSON: it checks what `schema` requires as it decodes. */
  readonly codec?: BodyCodec<z.infer<S>>;
  readonly stream?: StreamName;
}

/** Encodes and decodes a subject's bodies; `decode` throws an error with a `field` on a malformed body. */
export interface BodyCodec<T> {
  encode(value: T): Uint8Array;
  /** Whether a body is in this form; others are read as JSON against the schema (bodies of older versions). */
  recognizes(data: Uint8Array): boolean;
  decode(data: Uint8Array): T;
}

/** JetStream streams of the suite, relative to the namespace prefix. */
export const STREAMS = {
  INGEST: { subjects: ['metrics.ingest.>', 'events.>'], description: 'raw metric messages and game events from producers, as published' },
  SAMPLES: { subjects: ['metrics.samples'], description: 'validated, normalized sample batches' },
  DEADLETTER: { subjects: ['metrics.deadletter.>'], description: 'refused messages and why' },
} as const;
/** Name of one of the suite's streams. */
export type StreamName = keyof typeof STREAMS;

function subject<S extends z.ZodType, P extends string[]>(def: SubjectDef<S, P>): SubjectDef<S, P> {
  return def;
}

/** Every subject of the suite with its schema; the only place subject strings are written. */
export const SUBJECTS = {
  /** Producers publish raw metrics here (core or JetStream publish; the INGEST stream keeps both). */
  ingest: subject({
    filter: 'metrics.ingest.>',
    build: (source: string) => `metrics.ingest.${source}`,
    schema: IngestMessageSchema,
    stream: 'INGEST',
  }),
  /** Game events (\`events.<source>.<type>\`), counted by the processor as \`events_total{source,type}\`. */
  events: subject({
    filter: 'events.>',
    build: (source: string, type: string) => `events.${source}.${type}`,
    schema: GameEventSchema,
    stream: 'INGEST',
  }),
  /** The processor forwards validated batches here, packed (see sample-batch-codec.ts). */
  samples: subject({
    filter: 'metrics.samples',
    build: () => 'metrics.samples',
    schema: SampleBatchSchema,
    codec: { encode: encodeSampleBatch, recognizes: isPackedSampleBatch, decode: decodeSampleBatch },
    stream: 'SAMPLES',
  }),
  /** Refused messages, kept with their reasons. */
  deadLetter: subject({
    filter: 'metrics.deadletter.>',
    build: (source: string) => `metrics.deadletter.${source}`,
    schema: DeadLetterSchema,
    stream: 'DEADLETTER',
  }),
  /** Every change of every alert (core publish), for dashboards and other consumers. */
  alertEvents: subject({ filter: 'alerts.events', build: () => 'alerts.events', schema: AlertTransitionSchema }),
  /** Notifications of the dashboard channel. */
  dashboardNotifications: subject({ filter: 'alerts.notifications.dashboard', build: () => 'alerts.notifications.dashboard', schema: NotificationSchema }),
  /** Rules or silences changed; alert-manager replicas reload them at once. */
  alertConfigChanged: subject({ filter: 'alerts.config.changed', build: () => 'alerts.config.changed', schema: AlertConfigChangedSchema }),
  /** Health of one instance over NATS (a discovery endpoint). */
  health: subject({
    filter: 'tmon.health.>',
    build: (service: string, instance: string) => `tmon.health.${service}.${instance}`,
    schema: HealthReportSchema,
  }),
} as const;

/**
 * Durable consumers of the suite: each is shared by all replicas of its service, so each message is handled once.
 * `inFlight` is its max ack pending under the CORE_CONFIG limits.
 */
export const CONSUMERS = {
  // Reads the whole INGEST stream: metric messages and game events (a 2.9 consumer has one filter).
  processor: { stream: 'INGEST', filter: '>', inFlight: (core: InFlightLimits) => core.queueSize },
  // A SAMPLES message holds a whole processor batch, so these batch (and pull) by bytes as well as by count.
  storage: { stream: 'SAMPLES', filter: SUBJECTS.samples.filter, batchBytes: SAMPLE_BATCH_BYTES, inFlight: storageMessagesInFlight },
  'alert-manager': { stream: 'SAMPLES', filter: SUBJECTS.samples.filter, batchBytes: SAMPLE_BATCH_BYTES, inFlight: sampleMessagesInFlight },
} as const satisfies Record<string, { stream: StreamName; filter: string; batchBytes?: number; inFlight: (core: InFlightLimits) => number }>;
/** Name of one of the suite's durable consumers. */
export type ConsumerName = keyof typeof CONSUMERS;
