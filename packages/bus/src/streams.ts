import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  nanos,
  ErrorCode,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import { MAX_IN_HAND_MS } from './batch-consumer.ts';
import { CONSUMERS, STREAMS, type ConsumerName, type StreamName } from './subjects.ts';
import type { Namespace } from './namespace.ts';
import type { InFlightLimits } from './sample-batches.ts';

const HOUR_MS = 3_600_000;

/** How long JetStream remembers a message id to drop a second publish of it. */
const DUPLICATE_WINDOW_MS = MAX_IN_HAND_MS + 5 * 60_000;

/** Retention of each stream: INGEST is a work queue emptied by the processor; the others keep a window for replay. */
const STREAM_LIMITS: Record<StreamName, Partial<StreamConfig>> = {
  INGEST: { retention: RetentionPolicy.Workqueue, max_age: nanos(24 * HOUR_MS) },
  SAMPLES: { retention: RetentionPolicy.Limits, max_age: nanos(24 * HOUR_MS) },
  DEADLETTER: { retention: RetentionPolicy.Limits, max_age: nanos(7 * 24 * HOUR_MS) },
};

/** Creates or updates every stream of the suite; safe to run from every replica at every start. */
export async function ensureStreams(jsm: JetStreamManager, ns: Namespace, options: { replicas?: number } = {}): Promise<void> {
  for (const [name, def] of Object.entries(STREAMS) as [StreamName, (typeof STREAMS)[StreamName]][]) {
    const config: Partial<StreamConfig> = {
      name: ns.stream(name),
      subjects: def.subjects.map((s) => ns.subject(s)),
      description: def.description,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      // Longer than a stuck batch is held (MAX_IN_HAND_MS) plus an ack wait and a retry delay: a batch another replica
      // takes over, or one acked after a long outage, is published again inside it, and dropped as a duplicate.
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      // In a JetStream cluster, 3 replicas let a stream survive the loss of any one server.
      num_replicas: options.replicas ?? 1,
      ...STREAM_LIMITS[name],
    };
    await upsert(
      () => jsm.streams.info(config.name!),
      () => jsm.streams.add(config),
      () => jsm.streams.update(config.name!, config),
    );
  }
}

/** Options of a durable consumer shared by all replicas of one service. */
export interface ConsumerOptions {
  /** Seconds before an unacknowledged message is delivered again. */
  ackWaitSeconds: number;
  /** CORE_CONFIG limits: the consumer's max ack pending (messages handed out, not yet acked, over all replicas) is its `inFlight` of them. */
  core: InFlightLimits;
  /** Copies of the consumer's state in a JetStream cluster (as many as its stream's). */
  replicas?: number;
}

/** The configuration of one of the suite's durable consumers under `options`. */
export function consumerConfig(ns: Namespace, name: ConsumerName, options: ConsumerOptions): Partial<ConsumerConfig> {
  const def = CONSUMERS[name];
  return {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: ns.subject(def.filter),
    ack_wait: nanos(options.ackWaitSeconds * 1000),
    max_ack_pending: def.inFlight(options.core),
    max_deliver: -1,
    num_replicas: options.replicas ?? 1,
  };
}

/** Creates or updates one of the suite's durable consumers. */
export async function ensureConsumer(jsm: JetStreamManager, ns: Namespace, name: ConsumerName, options: ConsumerOptions): Promise<void> {
  const stream = ns.stream(CONSUMERS[name].stream);
  const config = consumerConfig(ns, name, options);
  await upsert(
    () => jsm.consumers.info(stream, name),
    () => jsm.consumers.add(stream, config),
    () => jsm.consumers.update(stream, name, config),
  );
}

/** How a service that may not create streams or consumers waits for the ones the NATS bootstrap creates. */
export interface BindOptions {
  /** Milliseconds between two looks (default 2000). */
  retryMs?: number;
  /** Told once per missing stream or consumer (`INGEST`, `INGEST/processor`) before waiting for it. */
  onMissing?: (what: string) => void;
  /** Gives up waiting (the service is stopping). */
  signal?: AbortSignal;
}

/**
 * Waits until every stream of the suite exists, without creating or changing any: for a NATS user allowed
 * only `$JS.API.STREAM.INFO` (the streams belong to the bootstrap identity, see `ensureStreams`).
 */
export async function bindStreams(jsm: JetStreamManager, ns: Namespace, options: BindOptions = {}): Promise<void> {
  for (const name of Object.keys(STREAMS) as StreamName[]) {
    const stream = ns.stream(name);
    await waitUntilExists(() => jsm.streams.info(stream), stream, options);
  }
}

/** Waits until one of the suite's durable consumers exists, without creating or changing it; returns its info. */
export async function bindConsumer(jsm: JetStreamManager, ns: Namespace, name: ConsumerName, options: BindOptions = {}): Promise<ConsumerInfo> {
  const stream = ns.stream(CONSUMERS[name].stream);
  return waitUntilExists(() => jsm.consumers.info(stream, name), `${stream}/${name}`, options);
}

async function waitUntilExists<T>(info: () => Promise<T>, what: string, options: BindOptions): Promise<T> {
  let told = false;
  for (;;) {
    try {
      return await info();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!told) options.onMissing?.(what);
    told = true;
    options.signal?.throwIfAborted();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.retryMs ?? 2000);
      options.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    options.signal?.throwIfAborted();
  }
}

/** Whether NATS refused a request (or publish) for want of permission: `-ERR 'Permissions Violation …'`. */
export function isPermissionError(err: unknown): boolean {
  return (err as { code?: string })?.code === ErrorCode.PermissionsViolation;
}

/** Add if missing, update if present; a replica that loses the race to add updates instead. */
async function upsert(info: () => Promise<unknown>, add: () => Promise<unknown>, update: () => Promise<unknown>): Promise<void> {
  const exists = await info().then(
    () => true,
    (err: unknown) => {
      if (isNotFound(err)) return false;
      throw err;
    },
  );
  if (exists) {
    await update();
    return;
  }
  try {
    await add();
  } catch (err) {
    if (!ALREADY_EXISTS.has(apiErrorCode(err) ?? 0)) throw err;
    await update();
  }
}

/** JetStream API error codes: stream not found, consumer not found. */
const NOT_FOUND = new Set([10059, 10014]);
/** Stream name already in use, consumer name already in use, consumer already exists. */
const ALREADY_EXISTS = new Set([10058, 10013, 10148]);

function apiErrorCode(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } })?.api_error?.err_code;
}

function isNotFound(err: unknown): boolean {
  return NOT_FOUND.has(apiErrorCode(err) ?? 0);
}
