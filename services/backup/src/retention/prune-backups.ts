import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../format/manifest.ts';

const DAY_MS = 86_400_000;

/** Days each kind of backup is kept. */
export interface RetentionDays {
  full: number;
  incremental: number;
}

/**
 * Which backups retention removes: those older than their kind's retention, except any backup that a kept
 * backup builds on (directly or through other incrementals), so no kept incremental loses its base.
 */
export function backupsToPrune(manifests: readonly Manifest[], retention: RetentionDays, now: Date): string[] {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const keep = new Set<string>();
  for (const m of manifests) {
    const ageDays = (now.getTime() - Date.parse(m.createdAt)) / DAY_MS;
    if (ageDays < retention[m.kind === 'full' ? 'full' : 'incremental']) keep.add(m.id);
  }
  for (const id of [...keep]) {
    for (let prev = byId.get(id)?.previous; prev && !keep.has(prev); prev = byId.get(prev)?.previous) keep.add(prev);
  }
  return manifests.filter((m) => !keep.has(m.id)).map((m) => m.id);
}

/**
 * Deletes the backups retention no longer keeps, and what backups cut off a day ago or more left (`.tmp-<id>`: a
 * crash or a shutdown mid-copy leaves it, and nothing else ever removed it, a full backup's size each); returns the
 * ids of the backups deleted. A backup under way writes into its directory every few seconds.
 */
export async function pruneBackups(backupsDir: string, manifests: readonly Manifest[], retention: RetentionDays, now = new Date()): Promise<string[]> {
  const doomed = backupsToPrune(manifests, retention, now);
  for (const id of doomed) await rm(join(backupsDir, id), { recursive: true, force: true });
  for (const name of await readdir(backupsDir).catch(() => [] as string[])) {
    if (!name.startsWith('.tmp-')) continue;
    const path = join(backupsDir, name);
    if (now.getTime() - (await stat(path)).mtimeMs >= DAY_MS) await rm(path, { recursive: true, force: true });
  }
  return doomed;
}
