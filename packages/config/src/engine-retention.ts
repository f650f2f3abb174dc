import { durationMs } from './durations.ts';
import type { Config } from './schema.ts';

const DAY_MS = 86_400_000;

/**
 * The whole days the engine keeps raw samples (its `-retentionPeriod`): `storage.retention.raw` rounded up to a day
 * (the engine's unit), and one day more. The processor takes samples as old as the raw retention, and the engine
 * drops a sample already older than its own retention when it arrives, silently: one taken at the edge and written
 * after any lag would be lost while counted as stored.
 */
export function engineRetentionDays(config: Readonly<Config>): number {
  return Math.max(1, Math.ceil(durationMs(config.storage.retention.raw) / DAY_MS)) + 1;
}

/**
 * Labels the engine keeps per series (its `-maxLabelsPerTimeseries`; 30 unless set): `__name__`, the most tags a
 * sample may have (`ingest.maxTags`), an event's `source` and `type`, and the namespace label. Past its limit the
 * engine drops the last labels without a word, so two series merged, or a namespaced one left its namespace.
 */
export function engineMaxLabels(config: Readonly<Config>): number {
  return config.ingest.maxTags + 4;
}
