import { refuse, type IngestWork } from './stage.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Result of decoding a message body: the parsed JSON, or nothing when the message was refused. */
export type DecodedBody = { ok: true; value: unknown } | { ok: false };

/** Checks the size of the body and parses it as JSON; refuses the whole message when either fails. */
export function decodeBody(work: IngestWork, maxMessageBytes: number): DecodedBody {
  if (work.raw.byteLength > maxMessageBytes) {
    refuse(work, '(message)', `message of ${work.raw.byteLength} bytes exceeds the limit of ${maxMessageBytes}`);
    return { ok: false };
  }
  try {
    return { ok: true, value: JSON.parse(decoder.decode(work.raw)) };
  } catch (err) {
    refuse(work, '(message)', `malformed JSON: ${(err as Error).message}`);
    return { ok: false };
  }
}
