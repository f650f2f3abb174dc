import { SUBJECTS, type DeadLetter } from '@terminusa/bus';

/** What a replay publishes, or why a dead letter cannot be replayed. */
export type Replay = { subject: string; body: Uint8Array } | { refused: string };

const METRICS_PREFIX = SUBJECTS.ingest.filter.slice(0, -1);
const EVENTS_PREFIX = SUBJECTS.events.filter.slice(0, -1);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON the raw body holds, or undefined when it is not JSON (refused whole: nothing of it was taken). */
function jsonOf(letter: DeadLetter): unknown {
  if (letter.rawEncoding !== 'utf8') return undefined;
  try {
    return JSON.parse(letter.raw) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The message a dead letter's replay publishes, made so a replay stores nothing twice and misdates nothing: of a
 * metric message only the refused samples (the accepted ones were stored), each without its own `ts` given the
 * time the stream first took the message, which is what it would have had; an event likewise dated. Refused: a
 * body cut to fit, a message not refused at intake, one whose refused samples are not all listed beside accepted
 * ones, and an event the processor failed on while handling it or counted in part (it would be counted twice).
 */
export function replayOf(letter: DeadLetter): Replay {
  const { subject, raw, rawEncoding, rawBytesNotKept, accepted, receivedAt } = letter;
  if (rawBytesNotKept) return { refused: `it kept only the first part of its message (${rawBytesNotKept} bytes were cut to fit)` };
  const whole = { subject, body: Buffer.from(raw, rawEncoding) };
  const json = jsonOf(letter);
  if (subject.startsWith(METRICS_PREFIX)) {
    if (!isObject(json) || !Array.isArray(json.samples)) {
      return accepted > 0 ? { refused: `${accepted} samples of it were stored, and its body is not one whose refused samples can be picked out` } : whole;
    }
    const indexes = letter.rejections.map((r) => r.index);
    if (accepted > 0 && (letter.rejectionsNotListed || indexes.some((i) => i === undefined))) {
      return { refused: `${accepted} samples of it were stored, and not every refused one is listed to be sent alone` };
    }
    const all = json.samples as unknown[];
    const picked = accepted > 0 ? [...new Set(indexes as number[])].sort((a, b) => a - b).map((i) => all[i]).filter((s) => s !== undefined) : all;
    const samples = picked.map((s) => (isObject(s) && s.ts === undefined ? { ...s, ts: receivedAt } : s));
    return { subject, body: Buffer.from(JSON.stringify({ ...json, samples })) };
  }
  if (subject.startsWith(EVENTS_PREFIX)) {
    if (letter.handlingFailures) return { refused: 'the processor failed on this event while handling it, so it may have been counted already' };
    // One of its two counters refused (the cardinality guard), the other counted: sent again, it counted again.
    if (accepted > 0) return { refused: `${accepted} of its counters were counted: sent again, they would be counted twice` };
    return isObject(json) && json.ts === undefined ? { subject, body: Buffer.from(JSON.stringify({ ...json, ts: receivedAt })) } : whole;
  }
  return { refused: `it came on ${subject}: only messages refused at intake (metrics.ingest.<source>, events.<source>.<type>) are replayed` };
}
