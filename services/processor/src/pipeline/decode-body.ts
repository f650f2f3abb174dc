import { refuse, type IngestWork } from './stage.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Result of decoding a message body: the parsed JSON, or nothing when the message was refused. */
export type DecodedBody = { ok: true; value: unknown } | { ok: false };

/** Whether the body is within the size limit; refuses the whole message when it is not. */
export function withinSize(work: IngestWork, maxMessageBytes: number): boolean {
  if (work.raw.byteLength <= maxMessageBytes) return true;
  refuse(work, '(message)', `message of ${work.raw.byteLength} bytes exceeds the limit of ${maxMessageBytes}`);
  return false;
}

/** Checks the size of the body and parses it as JSON; refuses the whole message when either fails. */
export function decodeBody(work: IngestWork, maxMessageBytes: number): DecodedBody {
  if (!withinSize(work, maxMessageBytes)) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(decoder.decode(work.raw)) };
  } catch (err) {
    refuse(work, '(message)', `malformed JSON: ${(err as Error).message}`);
    return { ok: false };
  }
}
