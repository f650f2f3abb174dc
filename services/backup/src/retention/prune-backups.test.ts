import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../format/manifest.ts';
import { backupsToPrune, pruneBackups } from './prune-backups.ts';

const NOW = new Date('2026-06-30T00:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();
const backup = (id: string, kind: 'full' | 'incremental', age: number, previous: string | null = null) => ({ id, kind, createdAt: daysAgo(age), previous }) as Manifest;
const retention = { full: 90, incremental: 30 };
/** A backup id as take-backup.ts makes it, for a backup taken `age` days ago. */
const idAt = (age: number, kind: string) => `${daysAgo(age).replace(/[-:.]/g, '')}-${kind}-abcdef`;

describe('backupsToPrune', () => {
  it('removes fulls older than 90 days and incrementals older than 30 days', () => {
    const all = [backup('f-old', 'full', 120), backup('i-old', 'incremental', 40, 'f-mid'), backup('f-mid', 'full', 60), backup('i-new', 'incremental', 5, 'f-new'), backup('f-new', 'full', 6)];
    expect(backupsToPrune(all, retention, NOW).sort()).toEqual(['f-old', 'i-old']);
  });

  it('never removes a full, or an incremental, that a kept incremental builds on', () => {
    const all = [backup('f-ancient', 'full', 200), backup('i-1', 'incremental', 199, 'f-ancient'), backup('i-2', 'incremental', 10, 'i-1'), backup('f-unused', 'full', 150)];
    expect(backupsToPrune(all, retention, NOW)).toEqual(['f-unused']);
  });

  it('keeps everything inside retention', () => {
    expect(backupsToPrune([backup('f', 'full', 89), backup('i', 'incremental', 29, 'f')], retention, NOW)).toEqual([]);
  });

  it('keeps every backup older than one whose manifest is unreadable: it may be that backup\'s base', () => {
    // full ← incremental (manifest unreadable) ← incremental: the full is past retention, but the kept incremental needs it.
    const full = backup(idAt(120, 'full'), 'full', 120);
    const newer = backup(idAt(5, 'incremental'), 'incremental', 5, idAt(40, 'incremental'));
    const unused = backup(idAt(100, 'full'), 'full', 100);
    expect(backupsToPrune([full, newer], retention, NOW, [idAt(40, 'incremental')])).toEqual([]);
    // A backup newer than every unreadable one is pruned by age as ever.
    expect(backupsToPrune([full, unused], retention, NOW, [idAt(110, 'incremental')])).toEqual([unused.id]);
    // An unreadable backup whose id does not say when it was taken may build on any of them.
    expect(backupsToPrune([full, unused], retention, NOW, ['copied-by-hand'])).toEqual([]);
  });
});

describe('pruneBackups', () => {
  it('never deletes the base of a kept incremental when the manifest between them is unreadable, nor the unreadable backup', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tmon-prune-'));
    try {
      const full = backup(idAt(120, 'full'), 'full', 120);
      const middle = backup(idAt(40, 'incremental'), 'incremental', 40, full.id);
      const newest = backup(idAt(5, 'incremental'), 'incremental', 5, middle.id);
      const old = backup(idAt(150, 'full'), 'full', 150);
      for (const m of [old, full, middle, newest]) await mkdir(join(dir, m.id));
      await writeFile(join(dir, middle.id, 'manifest.json'), '{ not json');
      // The middle one's manifest did not verify, so the caller (BackupOperations.prune) passes only the others.
      expect(await pruneBackups(dir, [old, full, newest], retention, NOW)).toEqual([]);
      expect((await readdir(dir)).sort()).toEqual([old.id, full.id, middle.id, newest.id].sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
