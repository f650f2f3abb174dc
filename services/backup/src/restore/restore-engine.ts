import { constants, createWriteStream } from 'node:fs';
import { access, chmod, chown, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
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
 * `remove` empties the directory again, for a restore that fails after it (the directory was empty before).
 */
export async function restoreEngineData(
  backupsDir: string,
  chain: readonly Manifest[],
  keyring: Keyring,
  targetDir: string,
): Promise<EngineRestoreResult & { remove: () => Promise<void> }> {
  const newest = chain[chain.length - 1]!;
  const snapshot = newest.engine;
  if (!snapshot) throw new Error(`backup ${newest.id} holds no engine data (backup.engineDataDir was not set when it was taken)`);
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

  const dir = resolve(targetDir);
  // Made first when missing: whether it is a mount point decides where to stage, and a rename replaces an empty directory.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const staging = await stagingFor(dir, newest.id);
  // What a restore of this backup killed midway left is its own; anything else makes the directory not empty.
  await rm(staging.path, { recursive: true, force: true });
  if ((await readdir(dir)).length > 0) throw new Error(`${dir} is not empty: engine data is restored only into an empty directory, never into a running engine's`);

  // Written into a staging directory and put in place only once whole: a restore that failed or was killed midway
  // left a half-filled data directory an engine could be started on, and refused to run again into it.
  const inside = (path: string) => {
    const full = resolve(staging.path, path);
    const rel = relative(staging.path, full);
    if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) throw new Error(`engine path ${path} leaves the target directory`);
    return full;
  };
  await mkdir(staging.path, { mode: 0o700 });
  try {
    for (const d of snapshot.dirs) await mkdir(inside(d), { recursive: true });
    const bytes = await writeFiles(backupsDir, keyring, [...plan.values()], inside);
    await putInPlace(staging, dir);
    return { dir, files: plan.size, bytes, remove: () => emptyDirectory(dir) };
  } catch (err) {
    await rm(staging.path, { recursive: true, force: true });
    throw err;
  }
}

/** Where the files are staged, and whether that is inside the target directory rather than beside it. */
interface Staging {
  path: string;
  inside: boolean;
}

/**
 * Beside the target (`.<name>.restoring-<id>`), to replace it in one rename; inside it (`.restoring-<id>`) when the
 * target is a mount point, on another filesystem than its parent, which a rename can neither cross nor replace, or
 * when its parent is not ours to write in (a volume mounted under a container's root).
 */
async function stagingFor(dir: string, id: string): Promise<Staging> {
  const [target, parent] = await Promise.all([stat(dir), stat(dirname(dir))]);
  const parentWritable = await access(dirname(dir), constants.W_OK).then(() => true, () => false);
  if (target.dev !== parent.dev || !parentWritable) return { path: join(dir, `.restoring-${id}`), inside: true };
  return { path: join(dirname(dir), `.${basename(dir)}.restoring-${id}`), inside: false };
}

/**
 * Puts the staged files in place: beside the target, by renaming the staging directory onto the empty target in one
 * step (with the target's mode and, where allowed, owner); inside a mount point (or a bind mount, which is on the same
 * filesystem but cannot be replaced either) entry by entry, taking back those moved when one fails.
 */
async function putInPlace(staging: Staging, dir: string): Promise<void> {
  if (!staging.inside) {
    const target = await stat(dir);
    await chmod(staging.path, target.mode & 0o7777);
    await chown(staging.path, target.uid, target.gid).catch(() => undefined);
    try {
      await rename(staging.path, dir);
      await synced(dirname(dir));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
    }
  }
  try {
    for (const entry of await readdir(staging.path)) await rename(join(staging.path, entry), join(dir, entry));
    await rmdir(staging.path);
    await synced(dir);
  } catch (err) {
    await emptyDirectory(dir);
    throw err;
  }
}

/** Removes everything in `dir`: the restore found it empty, so all of it is the restore's. */
async function emptyDirectory(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
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
