import { describeIssues, type GameEvent, type IngestSample, type Rejection, type Sample } from '@terminusa/bus';
import type { z } from 'zod';
import { seriesKey } from '@terminusa/metric-store';

/** A normalized sample with its series identity and where it stood in its message. */
export interface KeyedSample {
  /** Position in the message's `samples`, absent for event counters. */
  readonly index?: number;
  /**
   * The JSON of the sample's tags, sorted by key: its series among those of its metric name, as the bus carries
   * it. Built once, for the cardinality guard's memory and the bus encoding: serializing the tags twice, and a
   * series key besides, took a sixth of the processor's pipeline.
   */
  readonly tagsJson: string;
  sample: Sample;
}

/** The series key of a sample in Prometheus notation, `name{a="1",b="2"}`: what the cardinality sets and counters hold. */
export function seriesOf(s: { readonly sample: Pick<Sample, 'name' | 'tags'> }): string {
  return seriesKey(s.sample.name, s.sample.tags);
}

/** The field a refused sample is reported under: `samples[3]` in a metric message, `(event)` for a game event's counter. */
export function sampleField(s: KeyedSample): string {
  // Built only on refusal: a string per accepted sample was garbage the processor paid for on every sample.
  return s.index === undefined ? '(event)' : `samples[${s.index}]`;
}

/** A game event once its subject and body were checked. */
export interface ParsedEvent {
  readonly type: string;
  readonly body: GameEvent;
}

/** One raw message of the INGEST stream (metric message or game event) as it moves through the pipeline. */
export interface IngestWork {
  /** Subject relative to the namespace, e.g. `metrics.ingest.game` or `events.game.match_started`. */
  readonly subject: string;
  readonly raw: Uint8Array;
  /** When the stream captured the message (epoch ms): the default timestamp, the same on every redelivery. */
  readonly receivedAt: number;
  /** Sequence of the message in the INGEST stream: the same on every redelivery. */
  readonly seq: number;
  source?: string;
  candidates?: unknown[];
  valid?: { index: number; sample: IngestSample }[];
  event?: ParsedEvent;
  /** The samples still going on; for an event, counter increments until the counting stage makes them totals. */
  samples?: KeyedSample[];
  rejections: Rejection[];
  /** Set when the whole message is refused; later stages do nothing. */
  refused?: boolean;
}

/** A step of the processing pipeline: it reads and extends the work item, and may refuse all or part of it. */
export type Stage = (work: IngestWork) => void | Promise<void>;

/** Runs stages in order, stopping once the message is refused. */
export function pipeline(...stages: Stage[]): Stage {
  return async (work) => {
    for (const stage of stages) {
      if (work.refused) return;
      await stage(work);
    }
  };
}

/** Refuses the whole message with one reason. */
export function refuse(work: IngestWork, field: string, reason: string): void {
  work.rejections.push({ field, reason });
  work.refused = true;
}

/** Refuses the whole message for every issue of a failed schema check, each under its field. */
export function refuseIssues(work: IngestWork, error: z.ZodError): void {
  work.rejections.push(...describeIssues(error));
  work.refused = true;
}

/** Sends a message down the first route whose subject prefix matches; a message no route takes is refused. */
export function routeBySubject(routes: Readonly<Record<string, Stage>>, expected: string): Stage {
  const entries = Object.entries(routes);
  return async (work) => {
    const route = entries.find(([prefix]) => work.subject.startsWith(prefix));
    if (!route) return refuse(work, 'subject', `unknown subject ${work.subject}: publish to ${expected}`);
    await route[1](work);
  };
}
