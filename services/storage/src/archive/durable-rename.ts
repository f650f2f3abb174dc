import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Renames a finished temporary file into place once its bytes are on disk, and the rename itself once the
 * directory is: retention drops a partition or an hour after archiving it, and after a power loss the drop survives
 * (PostgreSQL syncs) while an unsynced file could come back empty.
 */
export async function renameDurably(tmp: string, path: string): Promise<void> {
  await synced(tmp);
  await rename(tmp, path);
  await synced(dirname(path));
}

/** Flushes a file's (or a directory's entries') bytes to disk. */
async function synced(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
