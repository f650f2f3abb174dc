import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Renames a finished temporary file (or directory, whose files were synced) into place once its bytes are on disk,
 * and the rename itself once the directory is: what is deleted after it (a partition archived, backups pruned after
 * a new one) is gone for good after a power loss, while an unsynced file could come back empty.
 */
export async function renameDurably(tmp: string, path: string): Promise<void> {
  await synced(tmp);
  await rename(tmp, path);
  await synced(dirname(path));
}

/** Flushes a file's (or a directory's entries') bytes to disk. */
export async function synced(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
