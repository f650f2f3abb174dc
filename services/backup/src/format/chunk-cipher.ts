import { createCipheriv, createDecipheriv, createHash, randomBytes, type DecipherGCM } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, constants as zlib } from 'node:zlib';

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
    if (!this.input.write(data)) await new Promise<void>((resolve) => this.input.once('drain', resolve));
  }

  /** Finishes the file and returns what the manifest records of it. */
  async close(): Promise<ChunkSummary> {
    this.input.end();
    await this.done;
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
  if (!header.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a chunk file (bad magic)');
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(MAGIC.length));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return { decipher, size };
}

/** Reads a whole chunk into `sink`; rejects if the file is damaged or the key is wrong. */
export async function readChunkInto(path: string, key: Buffer, aad: string, sink: Writable): Promise<void> {
  await pipeline(await openChunk(path, key, aad), sink);
}

/** The additional authenticated data binding a chunk to its backup, file name and key. */
export function chunkAad(backupId: string, file: string, keyId: string): string {
  return `${backupId}/${file}/${keyId}`;
}
