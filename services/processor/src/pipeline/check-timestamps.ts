import type { Stage } from './stage.ts';
import type { IngestLimits } from './ingest-limits.ts';

type Window = Pick<IngestLimits, 'maxFutureMs' | 'maxAgeMs'>;

function formatTs(ts: number): string {
  const date = new Date(ts);
  return Number.isNaN(date.getTime()) ? String(ts) : date.toISOString();
}

/** Why `ts` lies outside the window accepted around the receipt time, or undefined when it is inside. */
export function timestampProblem(ts: number, receivedAt: number, window: Window): string | undefined {
  if (ts > receivedAt + window.maxFutureMs) {
    return `too far in the future: ${formatTs(ts)} is ${ts - receivedAt} ms after the message was received (${formatTs(receivedAt)}); the limit is ${window.maxFutureMs} ms (ingest.maxFutureMs)`;
  }
  if (ts < receivedAt - window.maxAgeMs) {
    return `too old: ${formatTs(ts)} is ${receivedAt - ts} ms before the message was received (${formatTs(receivedAt)}); raw retention keeps ${window.maxAgeMs} ms (storage.retention.raw)`;
  }
  return undefined;
}

/** Rejects samples whose own timestamp is too far ahead of the receipt time or older than the raw retention. */
export function checkTimestamps(window: Window): Stage {
  return (work) => {
    work.valid = (work.valid ?? []).filter(({ index, sample }) => {
      const problem = sample.ts === undefined ? undefined : timestampProblem(sample.ts, work.receivedAt, window);
      if (problem) work.rejections.push({ index, field: `samples[${index}].ts`, reason: problem });
      return !problem;
    });
  };
}
