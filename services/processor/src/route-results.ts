import { createHash } from 'node:crypto';
import { SUBJECTS, deadLetterOf, sampleBatchBodies, shortenedText, type Bus, type EncodablePart } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { IngestWork } from './pipeline/index.ts';

/** Longest field or reason a log line quotes: a refused 200 KB tag key made each log line 200 KB (its dead letter keeps it, cut to fit a message). */
const LOGGED_TEXT_AT_MOST = 200;

const shortened = (text: string) => shortenedText(text, LOGGED_TEXT_AT_MOST);

/** The idempotency id of an ingest message: its stream and sequence, the same on every redelivery. */
function messageId(bus: Bus, work: IngestWork): string {
  return `${bus.ns.stream('INGEST')}:${work.seq}`;
}

/**
 * Forwards the accepted samples of a processed batch as few `metrics.samples` messages as fit the server's max
 * payload, one part per ingest message, and keeps each message's refused part on the dead-letter subject.
 * Every publish carries a message id derived from the ingest stream sequences, so a redelivered batch is
 * dropped by JetStream's duplicate window; a redelivery in another grouping is a new message, whose samples the
 * engine keeps once (one sample per series and timestamp).
 */
export async function routeResults(bus: Bus, logger: Logger, works: readonly IngestWork[]): Promise<void> {
  const maxBytes = bus.maxBodyBytes;
  const writes: Promise<void>[] = [];
  const parts: EncodablePart[] = [];
  for (const work of works) {
    const id = messageId(bus, work);
    const source = work.source ?? '_invalid';
    const kept = work.samples ?? [];
    const samples = kept.map((s) => s.sample);
    if (samples.length > 0) parts.push({ id, source, samples, tagsJson: kept.map((s) => s.tagsJson) });
    if (work.rejections.length > 0) {
      const accepted = samples.length;
      const rejected = work.rejections.slice(0, 10).map((r) => ({ field: shortened(r.field), reason: shortened(r.reason) }));
      logger.warn('rejected metric input', { subject: work.subject, accepted, rejected, rejectedCount: work.rejections.length });
      writes.push(
        bus.persist(
          SUBJECTS.deadLetter,
          [source],
          deadLetterOf({ subject: work.subject, receivedAt: work.receivedAt, rejections: work.rejections, accepted }, work.raw, maxBytes),
          `deadletter:${id}`,
        ),
      );
    }
  }
  for (const { body, ids } of sampleBatchBodies(parts, maxBytes)) {
    const msgID = `samples:${createHash('sha1').update(ids.join('\n')).digest('base64url')}`;
    writes.push(bus.persistEncoded(SUBJECTS.samples, [], body, msgID));
  }
  await Promise.all(writes);
}
