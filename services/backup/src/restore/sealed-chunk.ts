import { join } from 'node:path';
import { ChunkSealError, chunkAad, readSealedChunk } from '../format/chunk-cipher.ts';
import { rowScanner } from '../format/copy-rows.ts';
import type { Manifest } from '../format/manifest.ts';
import { BackupVerificationError, VERIFY_FAILURES } from '../errors.ts';

type Chunk = Manifest['tables'][number]['chunks'][number];

/**
 * A chunk's plain content, checked whole (sha256, GCM tag, size) before any of it is used: the chain was verified
 * before the restore began, and this refuses a file replaced since. A broken seal is the backup's verification error.
 */
export async function sealedChunk(backupsDir: string, manifest: Manifest, key: Buffer, chunk: Chunk): Promise<Buffer> {
  try {
    return await readSealedChunk(join(backupsDir, manifest.id, chunk.file), key, chunkAad(manifest.id, chunk.file, manifest.keyId), chunk);
  } catch (err) {
    if (err instanceof ChunkSealError) throw new BackupVerificationError(err.code, manifest.id, `chunk ${chunk.file} ${err.message}`);
    throw err;
  }
}

/** A table chunk's rows, sealed as above and holding the row count the manifest says (which the seal cannot vouch for). */
export async function sealedRows(backupsDir: string, manifest: Manifest, key: Buffer, table: Manifest['tables'][number], chunk: Chunk): Promise<Buffer> {
  const content = await sealedChunk(backupsDir, manifest, key, chunk);
  const scanner = rowScanner(table.encoding);
  const rows = scanner.push(content).ends.length;
  scanner.end();
  if (rows !== chunk.rows) throw new BackupVerificationError(VERIFY_FAILURES.ROW_COUNT_MISMATCH, manifest.id, `chunk ${chunk.file} holds ${rows} rows, the manifest says ${chunk.rows}`);
  return content;
}
