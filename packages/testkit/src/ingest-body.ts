import { decodeSampleBatch, isPackedSampleBatch, type IngestSample } from '@terminusa/bus';

/** The samples of an INGEST message as its publisher wrote them, whichever form it took (JSON or packed). */
export function ingestBodySamples(data: Uint8Array): IngestSample[] {
  if (!isPackedSampleBatch(data)) return (JSON.parse(Buffer.from(data).toString('utf8')) as { samples: IngestSample[] }).samples;
  return decodeSampleBatch(data).parts.flatMap((part) =>
    part.samples.map(({ name, value, ts, tags }) => (Number.isNaN(value) ? { name, stale: true as const, ts, tags: { ...tags } } : { name, value, ts, tags: { ...tags } })),
  );
}
