import { SUBJECTS, type Bus, type DeadLetter, type JsMsg } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { IngestWork } from './pipeline/index.ts';

/** Decoded raw bytes for the dead letter, as text when they are valid UTF-8. */
function rawForDeadLetter(raw: Uint8Array): Pick<DeadLetter, 'raw' | 'rawEncoding'> {
  try {
    return { raw: new TextDecoder('utf-8', { fatal: true }).decode(raw), rawEncoding: 'utf8' };
  } catch {
    return { raw: Buffer.from(raw).toString('base64'), rawEncoding: 'base64' };
  }
}

/**
 * Forwards the accepted samples of a processed message and keeps the refused part on the dead-letter subject.
 * Both publishes carry a message id derived from the ingest stream sequence, so a redelivery after a crash
 * is dropped by JetStream's duplicate window instead of being forwarded twice.
 */
export async function routeResults(bus: Bus, logger: Logger, msg: JsMsg, work: IngestWork): Promise<void> {
  const writes: Promise<void>[] = [];
  const id = `${bus.ns.stream('INGEST')}:${msg.seq}`;
  const source = work.source ?? '_invalid';
  const samples = (work.samples ?? []).map((s) => s.sample);
  if (samples.length > 0) {
    writes.push(bus.persist(SUBJECTS.samples, [], { source, samples }, `samples:${id}`));
  }
  if (work.rejections.length > 0) {
    const accepted = samples.length;
    logger.warn('rejected metric input', { subject: work.subject, accepted, rejected: work.rejections.slice(0, 10), rejectedCount: work.rejections.length });
    writes.push(
      bus.persist(
        SUBJECTS.deadLetter,
        [source],
        { subject: work.subject, receivedAt: work.receivedAt, rejections: work.rejections, accepted, ...rawForDeadLetter(work.raw) },
        `deadletter:${id}`,
      ),
    );
  }
  await Promise.all(writes);
}
