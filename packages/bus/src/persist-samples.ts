import type { Bus } from './bus.ts';
import type { IngestSample } from './schemas.ts';
import { SUBJECTS } from './subjects.ts';

/**
 * Publishes samples the suite makes itself (pushed requests, recording rules' results) into INGEST as `source`, in
 * messages of at most `perMessage` samples with the ids `<id>:<n>`: the same samples published again under the same
 * id are stored once by JetStream. Resolves once JetStream holds every message.
 */
export async function persistSamples(bus: Bus, source: string, samples: readonly IngestSample[], perMessage: number, id: string): Promise<void> {
  const messages: Promise<void>[] = [];
  for (let at = 0, part = 0; at < samples.length; at += perMessage, part++) {
    messages.push(bus.persist(SUBJECTS.ingest, [source], { samples: samples.slice(at, at + perMessage) }, `${id}:${part}`));
  }
  await Promise.all(messages);
}
