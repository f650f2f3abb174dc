import { createCipheriv, createDecipheriv, createHash, randomBytes, type DecipherGCM } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, createGzip, gunzip, constants as zlib } from 'node:zlib';
import { synced } from '@terminusa/runtime';
import { VERIFY_FAILURES, type VerifyFailure } from '../errors.ts';

const MAGIC = Buffer.from('TMB1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + NONCE_BYTES;

/** What the manifest records of one written chunk. */
export interface ChunkSummary {
  file: string;
  sha256: string;
  bytes: number;
  rawBytes: number;
  rows: number;
}

/**
 * Writes one chunk file: gzip, then AES-256-GCM with a random nonce and the chunk's identity as additional
 * data (so a chunk cannot be swapped into another backup or table unnoticed). Layout: magic, nonce,
 * ciphertext, GCM tag. The sha256 covers the whole file as written.
 */
export class ChunkWriter {
  private readonly input = new PassThrough();
  private readonly done: Promise<void>;
  private readonly hash = createHash('sha256');
  private bytes = 0;
  private rawBytes = 0;
  private rows = 0;

  constructor(
    private readonly path: string,
    readonly file: string,
    key: Buffer,
    aad: string,
  ) {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(aad));
    const frame = async function* (source: AsyncIterable<Buffer>) {
      yield Buffer.concat([MAGIC, nonce]);
      for await (const part of source) yield part;
      yield cipher.getAuthTag();
    };
    const count = (source: AsyncIterable<Buffer>) => this.tap(source);
    this.done = pipeline(this.input, createGzip({ level: zlib.Z_BEST_SPEED }), cipher, frame, count, createWriteStream(path, { mode: 0o600 }));
    // Its failure is the next write's or close's (both await it), not an unhandled rejection meanwhile.
    this.done.catch(() => undefined);
  }

  private async *tap(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const part of source) {
      this.hash.update(part);
      this.bytes += part.length;
      yield part;
    }
  }

  /** Uncompressed bytes written so far. */
  get size(): number {
    return this.rawBytes;
  }

  /** Writes plain bytes holding `rows` rows, waiting when the file is slower than the source. */
  async write(data: Buffer, rows: number): Promise<void> {
    this.rawBytes += data.length;
    this.rows += rows;
    // Or the file's failure: a write that failed (a full disk) ends the pipeline, and no drain ever comes.
    if (!this.input.write(data)) await Promise.race([once(this.input, 'drain'), this.done]);
  }

  /** Finishes the file, on disk (synced), and returns what the manifest records of it. */
  async close(): Promise<ChunkSummary> {
    this.input.end();
    await this.done;
    await synced(this.path);
    return { file: this.file, sha256: this.hash.digest('hex'), bytes: this.bytes, rawBytes: this.rawBytes, rows: this.rows };
  }
}

/** sha256 of a whole file. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const part of createReadStream(path)) hash.update(part as Buffer);
  return hash.digest('hex');
}

/**
 * Checks a chunk's seal in one read of the file: its sha256, and whether its GCM tag matches (it does not
 * after a flipped byte, with a wrong key or identity). Nothing is decompressed, so this costs a fraction of
 * reading the plain content.
 */
export async function checkChunkSeal(path: string, key: Buffer, aad: string): Promise<{ sha256: string; tagValid: boolean }> {
  const { decipher, size } = await openDecipher(path, key, aad);
  const hash = createHash('sha256');
  let read = 0;
  for await (const part of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(part);
    // Only the ciphertext between header and tag goes through the decipher.
    const start = Math.max(0, HEADER_BYTES - read);
    const end = Math.min(part.length, size - TAG_BYTES - read);
    if (end > start) decipher.update(part.subarray(start, end));
    read += part.length;
  }
  let tagValid = true;
  try {
    decipher.final();
  } catch {
    tagValid = false;
  }
  return { sha256: hash.digest('hex'), tagValid };
}

/**
 * The plain content of a chunk as a stream. The GCM tag is checked when the stream ends: a flipped byte, a
 * wrong key or wrong identity makes the stream fail instead of ending, so consume it to the end. With `rawBytes`
 * (the signed manifest's), the stream fails as soon as it holds more: a chunk replaced after it was verified could
 * otherwise inflate without bound.
 */
export async function openChunk(path: string, key: Buffer, aad: string, rawBytes = Number.POSITIVE_INFINITY): Promise<Readable> {
  const { decipher, size } = await openDecipher(path, key, aad);
  const body = size - TAG_BYTES > HEADER_BYTES ? createReadStream(path, { start: HEADER_BYTES, end: size - TAG_BYTES - 1 }) : PassThrough.from([]);
  const out = new PassThrough();
  let inflated = 0;
  const bounded = new Transform({
    transform(part: Buffer, _encoding, done) {
      inflated += part.length;
      done(inflated > rawBytes ? new Error(`chunk ${path} holds more than the ${rawBytes} bytes its manifest says`) : null, part);
    },
  });
  pipeline(body, decipher, createGunzip(), bounded, out).catch((err: unknown) => out.destroy(err as Error));
  return out;
}

/** A decipher set up from a chunk's header and tag, and the file's size. */
async function openDecipher(path: string, key: Buffer, aad: string): Promise<{ decipher: DecipherGCM; size: number }> {
  const { size } = await stat(path);
  if (size < HEADER_BYTES + TAG_BYTES) throw new Error('chunk file is truncated');
  const handle = await open(path, 'r');
  const header = Buffer.alloc(HEADER_BYTES);
  const tag = Buffer.alloc(TAG_BYTES);
  try {
    await handle.read(header, 0, HEADER_BYTES, 0);
    await handle.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
  } finally {
    await handle.close();
  }
  const decipher = decipherOf(header, tag, key, aad);
  if (!decipher) throw new Error('not a chunk file (bad magic)');
  return { decipher, size };
}

/** The decipher of a chunk from its header (magic, nonce) and GCM tag; undefined when the header is not a chunk's. */
function decipherOf(header: Buffer, tag: Buffer, key: Buffer, aad: string): DecipherGCM | undefined {
  if (!header.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(MAGIC.length, HEADER_BYTES));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return decipher;
}

/** Reads a whole chunk into `sink`; rejects if the file is damaged or the key is wrong. */
export async function readChunkInto(path: string, key: Buffer, aad: string, sink: Writable): Promise<void> {
  await pipeline(await openChunk(path, key, aad), sink);
}

/** A chunk file that is not the one its manifest sealed; `code` is the verification failure it amounts to. */
export class ChunkSealError extends Error {
  override readonly name = 'ChunkSealError';
  constructor(
    readonly code: VerifyFailure,
    message: string,
  ) {
    super(message);
  }
}

const gunzipAsync = promisify(gunzip);

/**
 * The plain content of a chunk, checked whole before any of it is returned: the file read once into memory (a chunk
 * is `backup.chunkBytes` before compression), its sha256 compared with the manifest's, its GCM tag checked, and no more
 * than `rawBytes` inflated. A restore writes what this returns, so a chunk file replaced after its chain was verified
 * is refused before its first row is written; a streamed chunk's tag is known only at its end, after rows went in.
 */
export async function readSealedChunk(path: string, key: Buffer, aad: string, sealed: { sha256: string; rawBytes: number }): Promise<Buffer> {
  const file = await readFile(path);
  const sha256 = createHash('sha256').update(file).digest('hex');
  if (sha256 !== sealed.sha256) throw new ChunkSealError(VERIFY_FAILURES.CHECKSUM_MISMATCH, `has sha256 ${sha256}, the manifest says ${sealed.sha256}`);
  const decipher = file.length < HEADER_BYTES + TAG_BYTES ? undefined : decipherOf(file.subarray(0, HEADER_BYTES), file.subarray(file.length - TAG_BYTES), key, aad);
  if (!decipher) throw new ChunkSealError(VERIFY_FAILURES.DECRYPT_FAILED, 'is not a chunk file');
  let compressed: Buffer;
  try {
    compressed = Buffer.concat([decipher.update(file.subarray(HEADER_BYTES, file.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new ChunkSealError(VERIFY_FAILURES.DECRYPT_FAILED, 'does not decrypt: its GCM tag does not match');
  }
  let plain: Buffer | undefined;
  try {
    plain = await gunzipAsync(compressed, { maxOutputLength: Math.max(1, sealed.rawBytes) });
  } catch {
    // Past maxOutputLength, or not gzip: either way not the content the manifest describes.
  }
  if (plain?.length !== sealed.rawBytes) throw new ChunkSealError(VERIFY_FAILURES.ROW_COUNT_MISMATCH, `does not inflate to the ${sealed.rawBytes} bytes its manifest says`);
  return plain;
}

/** The additional authenticated data binding a chunk to its backup, file name and key. */
export function chunkAad(backupId: string, file: string, keyId: string): string {
  return `${backupId}/${file}/${keyId}`;
}
