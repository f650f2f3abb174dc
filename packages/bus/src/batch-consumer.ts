import type { ConsumerMessages, JsMsg } from 'nats';
import type { Bus } from './bus.ts';
import { CONSUMERS, type ConsumerName } from './subjects.ts';

/**
 * How long one byte-bounded pull waits on the server for messages before it is asked again. An idle intake learns it
 * is caught up only when a pull expires empty, so this bounds how far its clock lags (up to twice this) and with it
 * how late a short no-data rule fires; an empty pull every 2 s per replica costs the server nothing worth counting.
 */
const FETCH_EXPIRES_MS = 2000;
/** How long past its expiry a pull may still be delivering before it is given up (its messages are redelivered). */
const FETCH_GRACE_MS = 2000;

/** What a message may carry beside its payload (subject, headers), counted with the largest payload in a byte bound. */
const PULL_OVERHEAD_BYTES = 32 * 1024;

/** How long a batch in hand is marked in progress at most (see BatchConsumerOptions.progressEveryMs). */
export const MAX_IN_HAND_MS = 5 * 60_000;

/** Handles a batch of messages; must make their effect durable before it resolves. */
export type BatchHandler = (messages: JsMsg[]) => Promise<void>;

/** How a batch consumer groups messages. */
export interface BatchConsumerOptions {
  /** Most messages handed to the handler at once. */
  maxBatch: number;
  /** Milliseconds to wait for more messages once the first one of a batch is here. */
  lingerMs: number;
  /** Milliseconds before a failed batch is delivered again. */
  retryDelayMs: number;
  onError: (err: unknown, batch: JsMsg[]) => void;
  /** Batches handled at the same time (default 1). */
  concurrency?: number;
  /**
   * Most payload bytes in one batch (a message larger than that is a batch on its own); defaults to the
   * consumer's `batchBytes` in CONSUMERS. When set, the pull is bounded in bytes as well, for streams whose
   * messages are large (a SAMPLES message holds a processor batch): a count alone would let hundreds of megabytes
   * into memory.
   */
  maxBatchBytes?: number;
  /**
   * When set, every this many milliseconds the messages waiting in the buffer or being handled are marked in
   * progress (`working()`), so JetStream does not deliver them again while this process is alive and merely
   * behind: a redelivery of a queued message doubled the work exactly when there was too much of it. Set it well
   * under the consumer's ack wait; a crashed process stops marking, and its messages come back after the ack wait.
   * A batch in hand is marked for at most {@link MAX_IN_HAND_MS}: a handler stuck that long lets its messages go to
   * another replica rather than hold them forever.
   */
  progressEveryMs?: number;
  /**
   * When set, a batch that fails on what may be a message's fault (`counts`) is handled again in halves, so the
   * messages beside one the handler cannot take are handled (a handler is all-or-nothing and stores nothing twice on a redelivery, so a good message handled
   * again is not doubled). When both halves fail too, they are taken apart further only if other batches were
   * handled since the batch's messages arrived (two poison messages side by side); otherwise the failure is the
   * store's, not a message's, and the whole batch comes back later. A message that fails alone comes back after a
   * delay that doubles with each failure counted against it, up to MAX_RETRY_DELAY_MS; a failure counts when other
   * batches were handled since its previous one, so in an outage, where nothing is handled, none does. After
   * `after` counted failures it is given to `setAside` (a dead letter) and acked; without `setAside` it keeps
   * coming back, for the stream to keep it until a release handles it.
   */
  poison?: {
    after: number;
    /** Which failures may be the message's (default: all); others are a dependency's and never count. */
    counts?: (err: unknown) => boolean;
    setAside?: (msg: JsMsg, err: unknown, failures: number) => Promise<void>;
  };
}

/** The longest a message failing alone waits before it comes back. */
const MAX_RETRY_DELAY_MS = 60_000;

/** Most messages whose failures a consumer remembers; past it, it starts over (a few hundred are in flight at once). */
const MAX_REMEMBERED_FAILURES = 100_000;

/** What a consumer remembers of a message that failed: its failures alone that count, and how many batches had succeeded at the last. */
interface FailureRecord {
  alone: number;
  successesThen: number;
}

/** A running batch consumer. */
export interface BatchConsumer {
  /** Stops pulling, gives back (naks) what is queued, finishes (and acks) the batches in hand, and returns once nothing is in flight. */
  stop(): Promise<void>;
  /**
   * How far this replica's intake has come, epoch ms: the stream time of the newest message it handled, or when a pull
   * that found nothing to take began, nothing then waiting or in any replica's hands (it was caught up then). It stands still while the intake stalls (NATS away) and
   * lags behind a backlog, so a judgement of silence ("no sample for 5 minutes") made against it is not made against
   * samples that are merely late.
   */
  intakeClock(): number;
}

/**
 * Pulls from a shared durable consumer and hands messages to `handler` in batches.
 * Every replica of a service pulls from the same durable, so JetStream gives each message to one of them;
 * messages are acked only after the handler resolved, and redelivered after a failure or a crash.
 */
export async function consumeBatches(bus: Bus, name: ConsumerName, handler: BatchHandler, options: BatchConsumerOptions): Promise<BatchConsumer> {
  const { stream } = bus.consumerTarget(name);
  const consumer = await bus.js.consumers.get(stream, name);
  const buffer: JsMsg[] = [];
  let bufferBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();
  const concurrency = Math.max(1, options.concurrency ?? 1);
  /** Batches in hand, with when their handling began. */
  const handling = new Map<JsMsg[], number>();

  /** Payload bytes and messages received and not yet acked or nak'ed: what the pull waits on. */
  let held = 0;
  let heldMessages = 0;
  let roomFreed: (() => void) | undefined;
  /** See BatchConsumer.intakeClock. */
  let clock = 0;
  /** Batches handled so far: a message's failures count against it only when others were handled in between. */
  let successes = 0;
  /** What `successes` was when each message in hand arrived. */
  const arrivedAfter = new WeakMap<JsMsg, number>();
  const failures = new Map<number, FailureRecord>();

  /** Handles `batch` and acks it; the error when the handler failed. */
  const attempt = async (batch: JsMsg[]): Promise<{ err: unknown } | undefined> => {
    try {
      await handler(batch);
    } catch (err) {
      return { err };
    }
    successes++;
    for (const m of batch) {
      clock = Math.max(clock, m.info.timestampNanos / 1e6);
      m.ack();
      failures.delete(m.seq);
    }
    return undefined;
  };

  /** `batch` failed and comes back after the retry delay, unless it is one message that failed alone often enough. */
  const failed = async (batch: JsMsg[], err: unknown): Promise<void> => {
    options.onError(err, batch);
    if (failures.size > MAX_REMEMBERED_FAILURES) failures.clear();
    for (const m of batch) {
      const record = failures.get(m.seq) ?? { alone: 0, successesThen: arrivedAfter.get(m) ?? successes };
      if (batch.length === 1 && successes > record.successesThen && (options.poison?.counts?.(err) ?? true)) record.alone++;
      record.successesThen = successes;
      failures.set(m.seq, record);
      if (options.poison?.setAside && record.alone >= options.poison.after) {
        try {
          await options.poison.setAside(m, err, record.alone);
          failures.delete(m.seq);
          m.ack();
          continue;
        } catch (setAsideErr) {
          options.onError(setAsideErr, [m]);
        }
      }
      m.nak(Math.min(MAX_RETRY_DELAY_MS, options.retryDelayMs * 2 ** record.alone));
    }
  };

  /** Whether a failure may be a message's own, so taking the batch apart can find it (a dependency's cannot). */
  const messageFault = (err: unknown) => options.poison?.counts?.(err) ?? true;

  /** Whether other batches were handled since any message of `batch` arrived: the store works. */
  const handledSince = (batch: JsMsg[]) => batch.some((m) => successes > (arrivedAfter.get(m) ?? successes));

  /** Handles the halves of a failed batch apart, down to the failing messages (see BatchConsumerOptions.poison). */
  const isolate = async (batch: JsMsg[], err: unknown): Promise<void> => {
    const halves = [batch.slice(0, Math.ceil(batch.length / 2)), batch.slice(Math.ceil(batch.length / 2))];
    const outcomes = [await attempt(halves[0]!), await attempt(halves[1]!)];
    if (outcomes[0] && outcomes[1] && !handledSince(batch)) return failed(batch, err);
    for (const i of [0, 1]) {
      const outcome = outcomes[i];
      if (!outcome) continue;
      if (halves[i]!.length === 1 || !messageFault(outcome.err)) await failed(halves[i]!, outcome.err);
      else await isolate(halves[i]!, outcome.err);
    }
  };

  const handle = async (batch: JsMsg[]): Promise<void> => {
    handling.set(batch, Date.now());
    try {
      const outcome = await attempt(batch);
      // A dependency's failure is not taken apart: each half would wait for the same timeout, a minute a batch.
      if (outcome && options.poison && batch.length > 1 && messageFault(outcome.err)) await isolate(batch, outcome.err);
      else if (outcome) await failed(batch, outcome.err);
    } finally {
      handling.delete(batch);
      release(batch);
    }
  };
  /** Messages acked or nak'ed: room for the pull. */
  const release = (messages: JsMsg[]) => {
    for (const m of messages) held -= m.data.length;
    heldMessages -= messages.length;
    roomFreed?.();
  };
  const progress = options.progressEveryMs
    ? setInterval(() => {
        for (const m of buffer) m.working();
        const since = Date.now() - MAX_IN_HAND_MS;
        for (const [batch, began] of handling) if (began > since) for (const m of batch) m.working();
      }, options.progressEveryMs)
    : undefined;
  progress?.unref();

  const def = CONSUMERS[name];
  const batchBytes = options.maxBatchBytes ?? ('batchBytes' in def ? def.batchBytes : undefined);
  const maxBytes = batchBytes ?? Infinity;
  const full = () => buffer.length >= options.maxBatch || bufferBytes >= maxBytes;

  /** The next batch off the buffer: up to maxBatch messages and maxBatchBytes bytes, at least one message. */
  const take = (): JsMsg[] => {
    let n = 0;
    let bytes = 0;
    while (n < buffer.length && n < options.maxBatch && (n === 0 || bytes + buffer[n]!.data.length <= maxBytes)) bytes += buffer[n++]!.data.length;
    bufferBytes -= bytes;
    return buffer.splice(0, n);
  };

  // Up to `concurrency` batches are handled at once, so the store is working while the next batch is decoded.
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    while (buffer.length > 0 && inFlight.size < concurrency) {
      const batch = take();
      const running: Promise<void> = handle(batch).finally(() => {
        inFlight.delete(running);
        if (full()) flush();
        else if (buffer.length > 0) timer ??= setTimeout(flush, options.lingerMs);
      });
      inFlight.add(running);
    }
  };

  const callback = (msg: JsMsg): void => {
    arrivedAfter.set(msg, successes);
    buffer.push(msg);
    bufferBytes += msg.data.length;
    held += msg.data.length;
    heldMessages++;
    if (full()) flush();
    else timer ??= setTimeout(flush, options.lingerMs);
  };
  // Byte-bounded pulls count every message as the largest the server accepts, so any message fits in a pull.
  const maxPayload = bus.nc.info?.max_payload ?? 1024 * 1024;
  const perMessage = maxPayload + PULL_OVERHEAD_BYTES;
  const intake = pull(
    consumer,
    options.maxBatch * (concurrency + 1),
    batchBytes === undefined ? Infinity : Math.max(batchBytes * (concurrency + 1), 2 * perMessage),
    perMessage,
  );

  /**
   * Pulls with one fetch at a time, for as many messages as fit in `messageLimit` and `byteLimit` less what is held
   * (each counted as the largest the server takes), once what is held fell to half of either: memory stays bounded
   * whatever the sizes, and a replica whose handler is stuck takes no more than its share, leaving the rest of the
   * consumer's ack-pending room to the others. Not nats.js' consume(): it pulls again as soon as messages are
   * delivered, not when they are acked, and stops for good on some errors without saying so. Not its byte-bounded
   * pulls: those ask for the bytes they believe are left, and a pull that ends on its message count leaves bytes
   * behind it never gets back, until every pull is smaller than the next message and the consumer stops for good
   * (seen under load with SAMPLES messages of mixed sizes).
   */
  function pull(source: typeof consumer, messageLimit: number, byteLimit: number, perMessage: number): { close(): Promise<void> } {
    let stopped = false;
    let fetching: ConsumerMessages | undefined;
    const loop = (async () => {
      while (!stopped) {
        if (held > byteLimit / 2 || heldMessages > messageLimit / 2) {
          await new Promise<void>((resolve) => (roomFreed = resolve));
          roomFreed = undefined;
          continue;
        }
        try {
          const room = Math.min(messageLimit - heldMessages, Math.floor((byteLimit - held) / perMessage));
          const began = Date.now();
          let delivered = 0;
          fetching = await source.fetch({ max_messages: Math.max(1, room), expires: FETCH_EXPIRES_MS });
          // A pull the server ended without nats.js seeing its last message (a restart, a lost status) would
          // otherwise hold this loop forever: a pull is over by its expiry, whatever the client believes.
          const pull = fetching;
          let overran = false;
          const overdue = setTimeout(() => {
            overran = true;
            pull.stop();
          }, FETCH_EXPIRES_MS + FETCH_GRACE_MS);
          try {
            for await (const msg of pull) {
              delivered++;
              callback(msg);
            }
          } finally {
            clearTimeout(overdue);
          }
          // Caught up only by a pull the server held to its expiry and ended with nothing: one the client gave up or
          // that ended early (a connection lost) says nothing of what is waiting. Nor does one the server ended empty
          // because the consumer's ack-pending room was full (held by a slow batch here or on another replica): so
          // only when nothing of the stream is waiting or in anyone's hands.
          if (delivered === 0 && !stopped && !overran && Date.now() - began >= FETCH_EXPIRES_MS - 500 && heldMessages === 0) {
            const { num_pending: waiting, num_ack_pending: inHand } = await source.info();
            if (waiting === 0 && inHand === 0) clock = Math.max(clock, began);
          }
        } catch (err) {
          if (stopped) break;
          options.onError(err, []);
          await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs));
        }
      }
    })();
    return {
      async close() {
        stopped = true;
        roomFreed?.();
        fetching?.stop();
        await loop;
      },
    };
  }

  return {
    async stop() {
      await intake.close();
      // What is queued and not started goes back at once, for another replica: working through a backlog here
      // would outlast the shutdown timeout and leave a batch half done.
      clearTimeout(timer);
      const queued = buffer.splice(0);
      bufferBytes = 0;
      for (const m of queued) m.nak();
      release(queued);
      while (inFlight.size > 0) await Promise.all(inFlight);
      clearInterval(progress);
    },
    intakeClock: () => clock,
  };
}
