import { pipeline, routeBySubject, type Stage } from './stage.ts';
import type { IngestLimits } from './ingest-limits.ts';
import { parseEnvelope } from './parse-envelope.ts';
import { validateSamples } from './validate-samples.ts';
import { checkTimestamps } from './check-timestamps.ts';
import { normalize } from './normalize.ts';
import { parseEvent } from './parse-event.ts';
import { eventIncrements } from './event-increments.ts';
import { guardCardinality, type SeriesIndex } from './guard-cardinality.ts';
import { countEvents, type EventCounters } from './count-events.ts';

export type { IngestWork, Stage } from './stage.ts';
export { seriesOf } from './stage.ts';
export { ingestLimits } from './ingest-limits.ts';
export type { IngestLimits } from './ingest-limits.ts';
export type { SeriesIndex, SeriesOfSample, CardinalityRefusal, CardinalityLimit } from './guard-cardinality.ts';
export type { EventCounters, CounterIncrement, CounterTotals } from './count-events.ts';

/** The state the processor shares with its other replicas, in Redis. */
export interface SharedState {
  series: SeriesIndex;
  counters: EventCounters;
  /** Called once per sample refused by the cardinality guard, with its metric name. */
  onCardinalityRefused(metric: string): void;
}

/**
 * The checks that need no shared state, by subject: a metric message (envelope → each sample → timestamps →
 * normalization) or a game event (subject, body and timestamp → its counter increments).
 */
export function validateMessage(limits: IngestLimits): Stage {
  return routeBySubject(
    {
      'metrics.ingest.': pipeline(parseEnvelope(limits), validateSamples(limits), checkTimestamps(limits), normalize),
      'events.': pipeline(parseEvent(limits), eventIncrements),
    },
    'metrics.ingest.<source> or events.<source>.<type>',
  );
}

/** The processor's pipeline, assembled in one place: validation → cardinality guard → event counting. */
export function ingestPipeline(limits: IngestLimits, shared: SharedState): Stage {
  // The guard runs before counting so that an event whose counter series is refused is not counted either.
  return pipeline(validateMessage(limits), guardCardinality(shared.series, (metric) => shared.onCardinalityRefused(metric)), countEvents(shared.counters));
}
