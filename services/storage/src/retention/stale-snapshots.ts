import { durationMs, type Config } from '@terminusa/config';
import { snapshotTakenAt, type VictoriaMetrics } from '@terminusa/metric-store';

/** `storage.engine.snapshotMaxAge` in milliseconds, or undefined where the storage takes no snapshots (the cluster edition). */
export function snapshotMaxAgeMs(config: Readonly<Config>): number | undefined {
  return config.storage.engine.durability === 'snapshot' ? durationMs(config.storage.engine.snapshotMaxAge) : undefined;
}

/**
 * Deletes the engine's snapshots taken more than `maxAgeMs` before `now` and returns their names. The storage's
 * syncs and the backups delete their own at once; what is this old was left by a process killed in between, and
 * would keep every part it links on the engine's disk for good. Deleting one twice (two runs at once) is no error.
 */
export async function deleteStaleSnapshots(engine: Pick<VictoriaMetrics, 'listSnapshots' | 'deleteSnapshot'>, maxAgeMs: number, now = Date.now()): Promise<string[]> {
  const stale = (await engine.listSnapshots()).filter((name) => (snapshotTakenAt(name) ?? now) < now - maxAgeMs);
  for (const name of stale) await engine.deleteSnapshot(name);
  return stale;
}
