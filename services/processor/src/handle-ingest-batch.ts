import type { BatchHandler, Bus } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { IngestWork, Stage } from './pipeline/index.ts';
import { routeResults } from './route-results.ts';
import { processConcurrently } from './process-concurrently.ts';

/** Counts what the processor accepted and refused. */
export interface IngestCounters {
  accepted(n: number): void;
  rejected(field: string): void;
}

/** What handling a batch needs: the bus, the pipeline, how many messages may be in work at once, counters. */
export interface IngestBatchDeps {
  bus: Bus;
  logger: Logger;
  processMessage: Stage;
  /** Messages processed at once (`core.workers`); the batch size and max-ack-pending bound the rest. */
  workers: number;
  counters: IngestCounters;
}

/**
 * A rejection's field as the label of its counter: array indices and tag keys come from producers, so they are folded
 * to keep the label bounded. The key goes first and whole (`[\s\S]`, since `.` stops at a newline: a refused key
 * holding one was a series of its own, and a key of `.tags.` over and over then a newline took quadratic time).
 */
export function fieldLabel(field: string): string {
  return field.replace(/(^|\.)tags\.[\s\S]*$/, '$1tags.*').replace(/\[\d+\]/g, '[]');
}

/** Runs every message of a batch through the pipeline and routes the results; resolves once all are durable. */
export function handleIngestBatch({ bus, logger, processMessage, workers, counters }: IngestBatchDeps): BatchHandler {
  return async (messages) => {
    const works: IngestWork[] = messages.map((msg) => ({
      subject: bus.ns.relative(msg.subject) ?? msg.subject,
      raw: msg.data,
      receivedAt: Math.floor(msg.info.timestampNanos / 1e6),
      seq: msg.seq,
      rejections: [],
    }));
    await processConcurrently(works, workers, async (work) => processMessage(work));
    await routeResults(bus, logger, works);
    for (const work of works) {
      counters.accepted(work.samples?.length ?? 0);
      for (const r of work.rejections) counters.rejected(fieldLabel(r.field));
    }
  };
}
