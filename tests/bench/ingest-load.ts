/**
 * The ingest bench's load: 100-sample JSON messages over 10,000 series, published to JetStream with acks,
 * pipelined (a window of messages in flight), optionally paced by a gate or a fixed rate.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient } from 'nats';

export const METRIC = 'bench_ingest';
export const SERIES = 10_000;
export const SAMPLES_PER_MESSAGE = 100;
/** Messages that cover every series once; message `m` carries the series of group `m % GROUPS`. */
export const GROUPS = SERIES / SAMPLES_PER_MESSAGE;

/** Series key the suite gives series `i` (the store's `seriesKey`: name{tag="value"}). */
export function seriesKeyOf(i: number): string {
  return `${METRIC}{series=${JSON.stringify(String(i))}}`;
}

/** One built message. */
export interface BuiltMessage {
  seq: number;
  group: number;
  /** The timestamp (epoch ms) of all its samples. */
  ts: number;
  /** Metric name and `series` tag of its first sample (what a latency probe looks for). */
  name: string;
  firstSeries: string;
  data: Uint8Array;
}

/** What a publishing phase takes its messages from. */
export interface MessageSource {
  build(): BuiltMessage;
}

/**
 * Builds the messages. Every sample of a message has ts = the moment it was built (just before it is
 * published), bumped by 1 ms past the previous message of the same group when the clock has not moved, so
 * each (series, ts) pair is published once and counting stored rows is exact. Built by string concatenation:
 * the bench runs on the same 2 cores as the suite, so its own CPU matters.
 */
export class MessageFactory implements MessageSource {
  private readonly lastTs = new Array<number>(GROUPS).fill(0);
  /** Messages built per group: each series of group g was published builtPerGroup[g] times. */
  readonly builtPerGroup = new Array<number>(GROUPS).fill(0);
  private next = 0;

  build(): BuiltMessage {
    const seq = this.next++;
    const group = seq % GROUPS;
    const ts = Math.max(Date.now(), this.lastTs[group]! + 1);
    this.lastTs[group] = ts;
    this.builtPerGroup[group]!++;
    const first = group * SAMPLES_PER_MESSAGE;
    let json = '{"samples":[';
    for (let i = 0; i < SAMPLES_PER_MESSAGE; i++) {
      if (i > 0) json += ',';
      json += `{"name":"${METRIC}","value":${seq + i / 1000},"ts":${ts},"tags":{"series":"${first + i}"}}`;
    }
    json += ']}';
    return { seq, group, ts, name: METRIC, firstSeries: String(first), data: Buffer.from(json) };
  }
}

/** The value of the `index`-th sample of message `seq` ({@link buildMessage}); the engine alone is fed the same. */
export const sampleValue = (seq: number, index: number): number => (seq % 1000) + index / 1000;

/** A message of 100 series of `name` (tags series=first…first+99), all at `ts`. */
export function buildMessage(seq: number, group: number, name: string, first: number, ts: number): BuiltMessage {
  let json = '{"samples":[';
  for (let i = 0; i < SAMPLES_PER_MESSAGE; i++) {
    if (i > 0) json += ',';
    json += `{"name":"${name}","value":${sampleValue(seq, i)},"ts":${ts},"tags":{"series":"${first + i}"}}`;
  }
  json += ']}';
  return { seq, group, ts, name, firstSeries: String(first), data: Buffer.from(json) };
}

/** The live fleet's shape in bench:ingest and bench:query: its series over 100 metric names, each every 15 s. */
export const LIVE_FLEET = { names: 100, intervalMs: 15_000 } as const;

/** The live fleet: group g is series (g mod perName)·100… of name ⌊g / groupsPerName⌋; every group once per round. */
export class LiveFleet implements MessageSource {
  private next = 0;
  readonly groups: number;
  readonly groupsPerName: number;
  readonly builtPerGroup: number[];
  readonly lastTs: number[];
  /** `series` over `names` metric names (`bench_live_00`…), each a whole number of messages. */
  constructor(series: number, names: number = LIVE_FLEET.names) {
    this.groups = series / SAMPLES_PER_MESSAGE;
    this.groupsPerName = this.groups / names;
    this.builtPerGroup = new Array<number>(this.groups).fill(0);
    this.lastTs = new Array<number>(this.groups).fill(0);
  }
  build(): BuiltMessage {
    const seq = this.next++;
    const group = seq % this.groups;
    // A series sends every 15 s, so its timestamps never repeat; bumped only in case the clock stood still.
    const ts = Math.max(Date.now(), this.lastTs[group]! + 1);
    this.lastTs[group] = ts;
    this.builtPerGroup[group]!++;
    return buildMessage(seq, group, LiveFleet.nameOf(Math.floor(group / this.groupsPerName)), (group % this.groupsPerName) * SAMPLES_PER_MESSAGE, ts);
  }
  /** Samples published to a series of name index `n`. */
  expected(n: number, series: number): number {
    return this.builtPerGroup[n * this.groupsPerName + Math.floor(series / SAMPLES_PER_MESSAGE)] ?? 0;
  }
  static nameOf(n: number): string {
    return `bench_live_${String(n).padStart(2, '0')}`;
  }
}

/** How one publishing phase runs. */
export interface PublishOptions {
  js: JetStreamClient;
  subject: string;
  factory: MessageSource;
  /** Prefix of the Nats-Msg-Id of each message, so a retried publish is stored once. */
  idPrefix: string;
  /** Messages published but not yet acknowledged by JetStream, at most. */
  window: number;
  /** Milliseconds the phase publishes for. */
  durationMs: number;
  /** Stop after this many messages, if sooner. */
  maxMessages?: number;
  /** When given, no new message is published while it returns false (backlog pacing). */
  gate?: () => boolean;
  /** When given, messages are published on a fixed schedule of this many per second (no faster). */
  ratePerS?: number;
  /** Called just before each message is handed to the client. */
  onPublish?: (msg: BuiltMessage, at: number) => void;
  /** Stops publishing when aborted, before the duration is over (a background load). */
  signal?: AbortSignal;
}

/** What a phase published. */
export interface PublishResult {
  /** Messages JetStream acknowledged (stored). */
  acked: number;
  /** Messages that still failed after every retry (their fate is unknown). */
  failed: number;
  /** Retries after a failed publish. */
  retries: number;
  /** performance.now() of the first publish and of the last ack. */
  firstAt: number;
  lastAckAt: number;
  /** performance.now() when publishing stopped (the last message was handed over). */
  stoppedAt: number;
  /** Milliseconds spent waiting at the gate. */
  gatedMs: number;
}

const ATTEMPTS = 5;

/** Publishes until the duration is over, then waits for every ack. */
export async function publishPhase(opts: PublishOptions): Promise<PublishResult> {
  const result: PublishResult = { acked: 0, failed: 0, retries: 0, firstAt: NaN, lastAckAt: NaN, stoppedAt: NaN, gatedMs: 0 };
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const released = () => {
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  };

  const send = async (msg: BuiltMessage): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.js.publish(opts.subject, msg.data, { msgID: `${opts.idPrefix}-${msg.seq}`, timeout: 30_000 });
        result.acked++;
        result.lastAckAt = performance.now();
        return;
      } catch (err) {
        if (attempt >= ATTEMPTS) {
          result.failed++;
          console.error(`  publish of message ${msg.seq} failed ${ATTEMPTS} times: ${String(err)}`);
          return;
        }
        result.retries++;
        await sleep(200 * attempt);
      }
    }
  };

  const start = performance.now();
  const end = start + opts.durationMs;
  let n = 0;
  for (;;) {
    if (inFlight >= opts.window) await new Promise<void>((r) => (wake = r));
    if (opts.gate && !opts.gate()) {
      const gatedFrom = performance.now();
      while (!opts.gate() && performance.now() < end) await sleep(2);
      result.gatedMs += performance.now() - gatedFrom;
    }
    if (opts.ratePerS) {
      const due = start + (n * 1000) / opts.ratePerS;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    const now = performance.now();
    if (now >= end || n >= (opts.maxMessages ?? Infinity) || opts.signal?.aborted) break;
    const msg = opts.factory.build();
    if (n === 0) result.firstAt = now;
    n++;
    opts.onPublish?.(msg, now);
    inFlight++;
    void send(msg).finally(released);
  }
  result.stoppedAt = performance.now();
  while (inFlight > 0) await new Promise<void>((r) => (wake = r));
  return result;
}
