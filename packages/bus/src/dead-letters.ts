import { SOURCE, type DeadLetter, type Rejection } from './schemas.ts';
import { shortenedText } from './shortened-text.ts';

/** The source under which the storage dead-letters a SAMPLES body it cannot decode (the sources of its parts are inside it). */
export const SAMPLES_DEAD_LETTER_SOURCE = '_samples';

/** What a dead letter says of a refused message besides the message itself. */
export type Refusal = Pick<DeadLetter, 'subject' | 'receivedAt' | 'rejections' | 'accepted' | 'handlingFailures'>;

/** Room for the rest of the dead letter: its other fields and JSON punctuation. */
const ENVELOPE_BYTES = 1024;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** Whether the bytes are UTF-8 text. */
function isUtf8(raw: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(raw);
    return true;
  } catch {
    return false;
  }
}

/** The first `n` bytes of UTF-8 text, cut back to a character boundary. */
function utf8Head(raw: Uint8Array, n: number): Uint8Array {
  let end = Math.min(n, raw.length);
  while (end > 0 && end < raw.length && (raw[end]! & 0xc0) === 0x80) end--;
  return raw.subarray(0, end);
}

/** Characters a rejection's field or reason keeps in a dead letter: a field holds the sender's tag key, of any length. */
const REJECTION_TEXT_CHARS = 1024;

/** `text` cut to REJECTION_TEXT_CHARS, saying how much was cut. */
const shortened = (text: string): string => shortenedText(text, REJECTION_TEXT_CHARS);

/**
 * The dead letter of a refused message, at most `maxBytes` of JSON. A message can be refused for every one of
 * thousands of samples, and a dead letter that does not fit in one NATS message could never be published: the
 * batch would fail and come back forever. So when everything does not fit, the first rejections are listed (at
 * least half the room, more when the raw message is small) and `rejectionsNotListed` counts the rest; the raw
 * message (text when it is UTF-8, else base64) gets the remaining room, its tail cut and counted in
 * `rawBytesNotKept`. A rejection's field and reason are cut to a thousand characters each, so the first one listed
 * always fits: a tag key of 400,000 characters made a rejection larger than any message, and the batch came back
 * forever.
 */
export function deadLetterOf(given: Refusal, raw: Uint8Array, maxBytes: number): DeadLetter {
  const refusal: Refusal = { ...given, rejections: given.rejections.map((r) => ({ ...r, field: shortened(r.field), reason: shortened(r.reason) })) };
  const rawEncoding = isUtf8(raw) ? 'utf8' : 'base64';
  const encode = (bytes: Uint8Array) => (rawEncoding === 'utf8' ? Buffer.from(bytes).toString('utf8') : Buffer.from(bytes).toString('base64'));
  const room = maxBytes - ENVELOPE_BYTES - jsonBytes(refusal.subject);
  const rawText = encode(raw);
  const whole: DeadLetter = { ...refusal, raw: rawText, rawEncoding };
  if (jsonBytes(refusal.rejections) + jsonBytes(rawText) <= room) return whole;

  const rejections: Rejection[] = [];
  let listed = 2;
  const rejectionRoom = Math.max(room / 2, room - jsonBytes(rawText));
  for (const r of refusal.rejections) {
    const size = jsonBytes(r) + 1;
    if (rejections.length > 0 && listed + size > rejectionRoom) break;
    rejections.push(r);
    listed += size;
  }
  // The raw message's JSON can be longer than the message (escapes); cut it until it fits.
  let keep = raw.length;
  let kept = raw;
  while (keep > 0 && listed + jsonBytes(encode(kept)) > room) {
    keep = Math.max(0, Math.floor(((keep * (room - listed)) / jsonBytes(encode(kept))) * 0.95));
    kept = rawEncoding === 'utf8' ? utf8Head(raw, keep) : raw.subarray(0, keep - (keep % 3));
    keep = kept.length;
  }
  const notListed = refusal.rejections.length - rejections.length;
  const notKept = raw.length - kept.length;
  return {
    ...refusal,
    rejections,
    ...(notListed > 0 ? { rejectionsNotListed: notListed } : {}),
    raw: encode(kept),
    rawEncoding,
    ...(notKept > 0 ? { rawBytesNotKept: notKept } : {}),
  };
}

/**
 * The source a queued message is dead-lettered under: the game service's for its own messages
 * (`metrics.ingest.<source>`, `events.<source>.<type>`), {@link SAMPLES_DEAD_LETTER_SOURCE} for the processor's
 * batches, `_invalid` when the subject names none.
 */
export function deadLetterSourceOf(subject: string): string {
  const tokens = subject.split('.');
  const source = tokens[0] === 'metrics' && tokens[1] === 'ingest' ? tokens[2] : tokens[0] === 'events' ? tokens[1] : tokens[0] === 'metrics' && tokens[1] === 'samples' ? SAMPLES_DEAD_LETTER_SOURCE : undefined;
  return source !== undefined && SOURCE.test(source) ? source : '_invalid';
}
