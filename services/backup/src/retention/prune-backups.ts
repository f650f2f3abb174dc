import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { listBackupIds, type Manifest } from '../format/manifest.ts';

const DAY_MS = 86_400_000;

/** Days each kind of backup is kept. */
export interface RetentionDays {
  full: number;
  incremental: number;
}

/**
 * Which backups retention removes: those older than their kind's retention, except any backup that a kept
 * backup builds on (directly or through other incrementals), so no kept incremental loses its base. `unreadable`
 * are the ids of backups whose manifest did not verify: never removed here, and since what they build on is unknown,
 * every backup older than one of them is kept too (it may be its base, or its base's).
 */
export function backupsToPrune(manifests: readonly Manifest[], retention: RetentionDays, now: Date, unreadable: readonly string[] = []): string[] {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const keep = new Set<string>();
  // An id that does not start with its time (not one a backup wrote) may be of any age: then every backup is kept.
  const newestUnreadable = Math.max(...unreadable.map((id) => idTime(id) ?? Infinity));
  for (const m of manifests) {
    const created = Date.parse(m.createdAt);
    const young = (now.getTime() - created) / DAY_MS < retention[m.kind === 'full' ? 'full' : 'incremental'];
    // Written as "not newer" so that a time that does not parse keeps the backup too: in doubt, kept.
    const mayBeBaseOfUnreadable = !(created > newestUnreadable);
    if (young || mayBeBaseOfUnreadable) keep.add(m.id);
  }
  for (const id of [...keep]) {
    for (let prev = byId.get(id)?.previous; prev && !keep.has(prev); prev = byId.get(prev)?.previous) keep.add(prev);
  }
  return manifests.filter((m) => !keep.has(m.id)).map((m) => m.id);
}

/** The time a backup id starts with (`20261126T000000123Z-…`, as take-backup.ts names them), or undefined. */
function idTime(id: string): number | undefined {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\d{3})?Z-/.exec(id);
  return m ? Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z`) : undefined;
}

/**
 * Deletes the backups retention no longer keeps, and what backups cut off a day ago or more left (`.tmp-<id>`: a
 * crash or a shutdown mid-copy leaves it, and nothing else ever removed it, a full backup's size each); returns the
 * ids of the backups deleted. A backup under way writes into its directory every few seconds. A backup directory
 * whose manifest is not among `manifests` (it did not verify) counts as unreadable (backupsToPrune).
 */
export async function pruneBackups(backupsDir: string, manifests: readonly Manifest[], retention: RetentionDays, now = new Date()): Promise<string[]> {
  const verified = new Set(manifests.map((m) => m.id));
  const unreadable = (await listBackupIds(backupsDir)).filter((id) => !verified.has(id));
  const doomed = backupsToPrune(manifests, retention, now, unreadable);
  for (const id of doomed) await rm(join(backupsDir, id), { recursive: true, force: true });
  for (const name of await readdir(backupsDir).catch(() => [] as string[])) {
    if (!name.startsWith('.tmp-')) continue;
    const path = join(backupsDir, name);
    if (now.getTime() - (await stat(path)).mtimeMs >= DAY_MS) await rm(path, { recursive: true, force: true });
  }
  return doomed;
}
