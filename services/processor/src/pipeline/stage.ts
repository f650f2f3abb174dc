import type { IngestSample, Rejection, Sample } from '@terminusa/bus';

/** One raw ingest message as it moves through the pipeline. */
export interface IngestWork {
  /** Subject relative to the namespace, e.g. `metrics.ingest.game`. */
  readonly subject: string;
  readonly raw: Uint8Array;
  /** When the stream captured the message (epoch ms): the default timestamp, the same on every redelivery. */
  readonly receivedAt: number;
  source?: string;
  candidates?: unknown[];
  valid?: { index: number; sample: IngestSample }[];
  samples?: Sample[];
  rejections: Rejection[];
  /** Set when the whole message is refused; later stages do nothing. */
  refused?: boolean;
}

/** A step of the processing pipeline: it reads and extends the work item, and may refuse all or part of it. */
export type Stage = (work: IngestWork) => void;

/** Runs stages in order, stopping once the message is refused. */
export function pipeline(...stages: Stage[]): Stage {
  return (work) => {
    for (const stage of stages) {
      if (work.refused) return;
      stage(work);
    }
  };
}
