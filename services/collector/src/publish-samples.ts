import { randomUUID } from 'node:crypto';
import { persistSamples, type Bus, type IngestSample, type MessageLimits } from '@terminusa/bus';

/** The ingest source token of each kind of collection (`metrics.ingest.<source>`). */
export const SAMPLE_SOURCES = { system: 'collector', scrape: 'scrape', probe: 'probe' } as const;
/** One of `SAMPLE_SOURCES`. */
export type SampleSource = (typeof SAMPLE_SOURCES)[keyof typeof SAMPLE_SOURCES];

/** Publishes samples durably under a source; resolves with how many were published. */
export type PublishSamples = (source: SampleSource, samples: readonly IngestSample[]) => Promise<number>;

/**
 * A `PublishSamples` that sends messages within `limits` (samples and bytes: a message the processor refuses as too
 * large would lose every sample in it) and reports each published count.
 */
export function samplePublisher(bus: Bus, limits: () => MessageLimits, onPublished: (source: SampleSource, n: number) => void = () => undefined): PublishSamples {
  return async (source, samples) => {
    await persistSamples(bus, source, samples, limits(), `${source}:${randomUUID()}`);
    onPublished(source, samples.length);
    return samples.length;
  };
}
