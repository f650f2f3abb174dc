import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChunkWriter, readChunkInto, openChunk, readSealedChunk } from './chunk-cipher.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmon-chunk-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });

/** Reads a chunk to its end with `rawBytes` as its manifest's size. */
async function readChunkIntoLimited(path: string, key: Buffer, rawBytes: number): Promise<void> {
  const plain = await openChunk(path, key, 'aad', rawBytes);
  await new Promise<void>((resolve, reject) => plain.on('error', reject).on('end', resolve).resume());
}

describe('a chunk read back', () => {
  it('fails as soon as it holds more than the bytes its manifest says (a chunk replaced after it was verified, a zip bomb)', async () => {
    const key = randomBytes(32);
    const path = join(dir, 'c.chunk');
    const writer = new ChunkWriter(path, 'c.chunk', key, 'aad');
    // Ten megabytes of zeros: a few kilobytes on disk.
    await writer.write(Buffer.alloc(10 << 20), 0);
    const { rawBytes } = await writer.close();
    expect(rawBytes).toBe(10 << 20);
    await readChunkInto(path, key, 'aad', sink());
    const said = 1 << 20;
    await expect(readChunkIntoLimited(path, key, said)).rejects.toThrow(`holds more than the ${said} bytes its manifest says`);
  });

  it('read sealed, is returned only whole and as its manifest says: checksum, tag and size', async () => {
    const key = randomBytes(32);
    const path = join(dir, 's.chunk');
    const writer = new ChunkWriter(path, 's.chunk', key, 'aad');
    await writer.write(Buffer.from('a\nb\n'), 2);
    await writer.write(Buffer.alloc(1 << 20), 0);
    const sealed = await writer.close();
    expect((await readSealedChunk(path, key, 'aad', sealed)).subarray(0, 4).toString()).toBe('a\nb\n');
    await expect(readSealedChunk(path, key, 'aad', { ...sealed, sha256: '0'.repeat(64) })).rejects.toMatchObject({ code: 'checksum-mismatch' });
    await expect(readSealedChunk(path, randomBytes(32), 'aad', sealed)).rejects.toMatchObject({ code: 'decrypt-failed' });
    await expect(readSealedChunk(path, key, 'other', sealed)).rejects.toMatchObject({ code: 'decrypt-failed' });
    // A manifest that says fewer bytes than the chunk inflates to: refused without inflating past them.
    await expect(readSealedChunk(path, key, 'aad', { ...sealed, rawBytes: 1024 })).rejects.toMatchObject({ code: 'row-count-mismatch' });
  });
});

describe('a chunk written', () => {
  it('fails its write when the file cannot be written, instead of waiting for ever (a full disk, a missing folder)', async () => {
    const writer = new ChunkWriter(join(dir, 'gone', 'w.chunk'), 'w.chunk', randomBytes(32), 'aad');
    // More than the streams buffer, so a write waits for the file: which has failed.
    const big = randomBytes(1 << 20);
    const writeOn = async () => {
      for (let i = 0; i < 64; i++) await writer.write(big, 0);
    };
    await expect(writeOn()).rejects.toThrow(/ENOENT/);
    await expect(writer.write(big, 0)).rejects.toThrow(/ENOENT/);
  });
});
