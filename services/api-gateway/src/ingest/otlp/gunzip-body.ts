import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { BadPayloadError, BodyTooLargeError } from '../decoded-samples.ts';

const gunzipAsync = promisify(gunzip);

/**
 * A gzip body decompressed, stopping at `maxBytes` so a small bomb cannot fill the memory: BodyTooLargeError past
 * it, BadPayloadError when the body is not gzip.
 */
export async function gunzipBody(body: Uint8Array, maxBytes: number): Promise<Buffer> {
  try {
    // On the thread pool, not the event loop.
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLargeError(`the body is more than the ${maxBytes} bytes taken once decompressed`);
    throw new BadPayloadError(`the body is not gzip (Content-Encoding: gzip): ${(err as Error).message}`);
  }
}
