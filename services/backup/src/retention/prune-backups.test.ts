import { describe, expect, it } from 'vitest';
import type { Manifest } from '../format/manifest.ts';
import { backupsToPrune } from './prune-backups.ts';

const NOW = new Date('2026-06-30T00:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();
const backup = (id: string, kind: 'full' | 'incremental', age: number, previous: string | null = null) => ({ id, kind, createdAt: daysAgo(age), previous }) as Manifest;
const retention = { full: 90, incremental: 30 };

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
});
