import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { BackupVerificationError, KeyMissingError, VERIFY_FAILURES } from '../errors.ts';
import { checkChunkSeal, chunkAad, fileSha256, readChunkInto } from '../format/chunk-cipher.ts';
import { readVerifiedManifest, type Manifest } from '../format/manifest.ts';
import type { Keyring } from '../keys/keyring.ts';
import { rowScanner, type RowEncoding } from '../format/copy-rows.ts';

/** Chunks checked at the same time. */
const VERIFY_PARALLELISM = 4;

/**
 * How deep a verification reads: `seal` checks each chunk's sha256 and GCM tag in one read of the file;
 * `full` also decompresses every chunk and counts its rows and bytes against the manifest.
 */
export type VerifyDepth = 'seal' | 'full';

/** Result of a successful verification. */
export interface VerifiedBackup {
  manifest: Manifest;
  chunks: number;
  bytes: number;
  rows: number;
}

/**
 * Checks one backup without touching any database: the manifest signature, then for every chunk its
 * presence, its sha256 and its GCM tag, and at `full` depth its row count.
 */
export async function verifyBackup(backupsDir: string, id: string, keyring: Keyring, depth: VerifyDepth = 'full'): Promise<VerifiedBackup> {
  const manifest = await readVerifiedManifest(backupsDir, id, keyring);
  let key: Buffer;
  try {
    key = keyring.dataKey(manifest.keyId);
  } catch (err) {
    if (err instanceof KeyMissingError) throw new BackupVerificationError(VERIFY_FAILURES.KEY_MISSING, id, `${err.message}; was the keyring replaced?`);
    throw err;
  }
  const chunks: VerifyChunk[] = [
    ...manifest.tables.flatMap((t) => t.chunks.map((c) => ({ ...c, what: `table ${t.table}`, encoding: t.encoding }))),
    ...manifest.files.map((f) => ({ ...f.chunk, what: `${f.kind} file ${f.path}` })),
    ...(manifest.engine?.files ?? []).flatMap((f) => f.chunks.map((c) => ({ ...c, what: `engine file ${f.path}` }))),
  ];
  let bytes = 0;
  let rows = 0;
  const queue = [...chunks];
  // Chunks are checked side by side: decrypting and hashing is CPU work that spreads over the cores.
  const worker = async () => {
    for (let chunk = queue.shift(); chunk; chunk = queue.shift()) {
      const checked = await verifyChunk(backupsDir, manifest, key, chunk, depth);
      bytes += chunk.bytes;
      rows += checked.rows;
    }
  };
  await Promise.all(Array.from({ length: VERIFY_PARALLELISM }, worker));
  return { manifest, chunks: chunks.length, bytes, rows };
}

/** A chunk to check, with what it holds for messages; table chunks carry their COPY format. */
type VerifyChunk = Manifest['tables'][number]['chunks'][number] & { what: string; encoding?: RowEncoding };

async function verifyChunk(
  backupsDir: string,
  manifest: Manifest,
  key: Buffer,
  chunk: VerifyChunk,
  depth: VerifyDepth,
): Promise<{ rows: number }> {
  const id = manifest.id;
  const path = join(backupsDir, id, chunk.file);
  try {
    await access(path);
  } catch {
    throw new BackupVerificationError(VERIFY_FAILURES.CHUNK_MISSING, id, `chunk ${chunk.file} (${chunk.what}) is missing`);
  }
  const aad = chunkAad(id, chunk.file, manifest.keyId);
  const isTable = chunk.encoding !== undefined;
  if (depth === 'seal') {
    // Too short for a chunk's frame, or not one at all (its magic): not the file the manifest signed, whose checksum says so.
    const seal = await checkChunkSeal(path, key, aad).catch(async () => ({ sha256: await fileSha256(path), tagValid: false }));
    if (seal.sha256 !== chunk.sha256) throw checksumMismatch(id, chunk, seal.sha256);
    if (!seal.tagValid) throw new BackupVerificationError(VERIFY_FAILURES.DECRYPT_FAILED, id, `chunk ${chunk.file} (${chunk.what}) does not decrypt: its GCM tag does not match`);
    return { rows: isTable ? chunk.rows : 0 };
  }
  const sha = await fileSha256(path);
  if (sha !== chunk.sha256) throw checksumMismatch(id, chunk, sha);
  let lines = 0;
  let plain = 0;
  // A file chunk is counted as one row; a table chunk's rows are counted by its COPY format.
  const scanner = chunk.encoding && rowScanner(chunk.encoding);
  const counter = new Writable({
    write(data: Buffer, _enc, done) {
      plain += data.length;
      try {
        if (scanner) lines += scanner.push(data).ends.length;
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    final(done) {
      try {
        scanner?.end();
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  try {
    await readChunkInto(path, key, aad, counter);
  } catch (err) {
    throw new BackupVerificationError(VERIFY_FAILURES.DECRYPT_FAILED, id, `chunk ${chunk.file} (${chunk.what}) does not decrypt: ${(err as Error).message}`, { cause: err });
  }
  if (plain !== chunk.rawBytes || (isTable && lines !== chunk.rows)) {
    throw new BackupVerificationError(VERIFY_FAILURES.ROW_COUNT_MISMATCH, id, `chunk ${chunk.file} holds ${lines} rows / ${plain} bytes, the manifest says ${chunk.rows} / ${chunk.rawBytes}`);
  }
  return { rows: isTable ? lines : 0 };
}

function checksumMismatch(id: string, chunk: { file: string; what: string; sha256: string }, sha: string): BackupVerificationError {
  return new BackupVerificationError(VERIFY_FAILURES.CHECKSUM_MISMATCH, id, `chunk ${chunk.file} (${chunk.what}) has sha256 ${sha}, the manifest says ${chunk.sha256}`);
}

/** The backups a restore of `id` needs, oldest (the full) first, each verified to `depth`. */
export async function verifyChain(backupsDir: string, id: string, keyring: Keyring, depth: VerifyDepth = 'full'): Promise<VerifiedBackup[]> {
  const chain: VerifiedBackup[] = [];
  const seen = new Set<string>();
  for (let current: string | null = id; current; ) {
    if (seen.has(current)) throw new BackupVerificationError(VERIFY_FAILURES.CHAIN_BROKEN, id, `the chain loops at ${current}`);
    seen.add(current);
    let verified: VerifiedBackup;
    try {
      verified = await verifyBackup(backupsDir, current, keyring, depth);
    } catch (err) {
      if (err instanceof BackupVerificationError && err.code === VERIFY_FAILURES.MISSING_BACKUP && current !== id) {
        throw new BackupVerificationError(VERIFY_FAILURES.CHAIN_BROKEN, id, `it builds on ${current}, which is missing`);
      }
      throw err;
    }
    chain.unshift(verified);
    current = verified.manifest.previous;
  }
  if (chain[0]!.manifest.kind !== 'full') throw new BackupVerificationError(VERIFY_FAILURES.CHAIN_BROKEN, id, 'the chain does not start with a full backup');
  return chain;
}
