import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { synced } from '@terminusa/runtime';
import { BackupVerificationError, VERIFY_FAILURES } from '../errors.ts';
import { sealedChunk } from './sealed-chunk.ts';
import { eachInParallel } from './each-in-parallel.ts';
import type { Manifest } from '../format/manifest.ts';
import type { Keyring } from '../keys/keyring.ts';
import { partOf } from '../take/engine-snapshot.ts';

/** Files written at the same time. */
const WRITE_PARALLELISM = 4;

/** Totals of an engine restore. */
export interface EngineRestoreResult {
  dir: string;
  files: number;
  bytes: number;
}

/**
 * Writes the engine snapshot of the newest backup of `chain` (verified, oldest first) into `targetDir`, which
 * must be missing or empty: a data directory for a stopped engine to be started on. Each part directory the
 * snapshot held comes from the backup of the chain that carries it; the other files from the newest backup.
 */
export async function restoreEngineData(backupsDir: string, chain: readonly Manifest[], keyring: Keyring, targetDir: string): Promise<EngineRestoreResult> {
  const newest = chain[chain.length - 1]!;
  const snapshot = newest.engine;
  if (!snapshot) throw new Error(`backup ${newest.id} holds no engine data (backup.engineDataDir was not set when it was taken)`);
  const dir = resolve(targetDir);
  const existing = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (existing.length > 0) throw new Error(`${dir} is not empty: engine data is restored only into an empty directory, never into a running engine's`);

  const wanted = new Set(snapshot.parts);
  const plan = new Map<string, PlannedFile>();
  for (const manifest of chain) {
    for (const file of manifest.engine?.files ?? []) {
      const part = partOf(file.path);
      if (part ? wanted.has(part) : manifest === newest) plan.set(file.path, { manifest, file });
    }
  }
  const found = new Set([...plan.keys()].map(partOf));
  const lacking = snapshot.parts.filter((p) => !found.has(p));
  if (lacking.length > 0) throw new BackupVerificationError(VERIFY_FAILURES.CHAIN_BROKEN, newest.id, `no backup of the chain carries engine part ${lacking[0]} (${lacking.length} missing)`);

  // Written under a staging directory inside the target and moved into place only once whole: a restore that
  // failed midway left a half-filled data directory an engine could be started on, and refused to run again into it.
  const staging = join(dir, `.restoring-${newest.id}`);
  const inside = (path: string) => {
    const full = resolve(staging, path);
    const rel = relative(staging, full);
    if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) throw new Error(`engine path ${path} leaves the target directory`);
    return full;
  };
  await mkdir(staging, { recursive: true, mode: 0o700 });
  try {
    for (const d of snapshot.dirs) await mkdir(inside(d), { recursive: true });
    const bytes = await writeFiles(backupsDir, keyring, [...plan.values()], inside);
    // In place: each top-level entry moved from the staging directory (the target may be a mount point, which
    // cannot itself be renamed onto), then the target synced.
    for (const entry of await readdir(staging)) await rename(join(staging, entry), join(dir, entry));
    await rmdir(staging);
    await synced(dir);
    return { dir, files: plan.size, bytes };
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** One file the restore writes: the backup of the chain that carries it, and its entry there. */
type PlannedFile = { manifest: Manifest; file: NonNullable<Manifest['engine']>['files'][number] };

/**
 * Writes the planned files (at `inside(path)`), each chunk checked whole (sha256, GCM tag, size) before a byte of it is
 * written: the chain was verified before the restore began, and this refuses a file replaced since rather than write
 * what it holds. Each file is on disk before the data directory counts as restored. Returns the bytes written.
 */
async function writeFiles(backupsDir: string, keyring: Keyring, planned: readonly PlannedFile[], inside: (path: string) => string): Promise<number> {
  let bytes = 0;
  await eachInParallel(planned, WRITE_PARALLELISM, async ({ manifest, file }) => {
    const key = keyring.dataKey(manifest.keyId);
    const path = inside(file.path);
    await mkdir(join(path, '..'), { recursive: true });
    let written = 0;
    const plain = async function* () {
      for (const chunk of file.chunks) {
        const data = await sealedChunk(backupsDir, manifest, key, chunk);
        written += data.length;
        yield data;
      }
    };
    await pipeline(plain, createWriteStream(path, { flags: 'wx', mode: 0o644 }));
    if (written !== file.bytes) throw new BackupVerificationError(VERIFY_FAILURES.ROW_COUNT_MISMATCH, manifest.id, `engine file ${file.path} holds ${written} bytes, the manifest says ${file.bytes}`);
    await synced(path);
    bytes += written;
  });
  return bytes;
}
