import { SUBJECTS, type Bus, type IngestSample } from '@terminusa/bus';

/** The ingest source token of each kind of collection (`metrics.ingest.<source>`). */
export const SAMPLE_SOURCES = { system: 'collector', scrape: 'scrape', probe: 'probe' } as const;
/** One of `SAMPLE_SOURCES`. */
export type SampleSource = (typeof SAMPLE_SOURCES)[keyof typeof SAMPLE_SOURCES];

/** Publishes samples durably under a source; resolves with how many were published. */
export type PublishSamples = (source: SampleSource, samples: readonly IngestSample[]) => Promise<number>;

/** A `PublishSamples` that sends messages of at most `batchSize` samples and reports each published count. */
export function samplePublisher(bus: Bus, batchSize: () => number, onPublished: (source: SampleSource, n: number) => void = () => undefined): PublishSamples {
  return async (source, samples) => {
    const size = batchSize();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < samples.length; i += size) sends.push(bus.persist(SUBJECTS.ingest, [source], { samples: samples.slice(i, i + size) }));
    await Promise.all(sends);
    onPublished(source, samples.length);
    return samples.length;
  };
}
