import { BadPayloadError, BodyTooLargeError } from './decoded-samples.ts';
import { ELEMENTS_PER_SAMPLE } from './protobuf-elements.ts';

/** The bytes of JSON's structure, and its whitespace. */
const [QUOTE, BACKSLASH, COMMA, OPEN_ARRAY, CLOSE_ARRAY, OPEN_OBJECT, CLOSE_OBJECT] = [...'"\\,[]{}'].map((c) => c.charCodeAt(0));
const SPACE = new Uint8Array(256);
for (const c of ' \n\r\t') SPACE[c.charCodeAt(0)] = 1;
/**
 * The deepest nesting taken: OTLP/JSON nests about a dozen levels (attribute values a few more). Deeper, the scan's
 * own stack grew with the body (16 MiB of `{` held 16 million entries), and the parser's would after it.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * Throws BodyTooLargeError when the JSON `body` holds more than `max` array elements (BadPayloadError when it nests
 * deeper than MAX_JSON_DEPTH), counted in one pass over its
 * bytes without parsing it: the JSON mapping of a protobuf message has an array where the message has a repeated
 * field, so this is limitElements' count for OTLP/JSON. A 16 MiB body of `0,` bucket counts parsed into 8 million
 * values and then as many protobuf objects before any count of the message could refuse it. A body that is not
 * well-formed JSON is left to the parser, which says what is wrong with it (UTF-8 is safe to scan bytewise: no byte of
 * a multibyte character is ASCII).
 */
export function limitJsonElements(body: Uint8Array, max: number): void {
  // Whether each open container is an array (1), innermost at depth - 1.
  const arrays = new Uint8Array(MAX_JSON_DEPTH);
  let depth = 0;
  let count = 0;
  // An array just opened: its first element counts once something but `]` follows.
  let opened = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (SPACE[c]) continue;
    if (opened && c !== CLOSE_ARRAY) count++;
    opened = false;
    if (c === QUOTE) {
      for (i++; i < body.length && body[i] !== QUOTE; i++) if (body[i] === BACKSLASH) i++;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (depth === MAX_JSON_DEPTH) throw new BadPayloadError(`the body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
      arrays[depth++] = c === OPEN_ARRAY ? 1 : 0;
      opened = c === OPEN_ARRAY;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (depth > 0) depth--;
    } else if (c === COMMA && depth > 0 && arrays[depth - 1] === 1) {
      count++;
    }
    if (count > max) throw new BodyTooLargeError(`the request holds more than ${max} JSON array elements (labels, samples, buckets), the most one request may (${ELEMENTS_PER_SAMPLE} × ingest.maxSamplesPerRequest)`);
  }
}
