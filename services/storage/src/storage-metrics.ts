import { Counter, type Registry } from 'prom-client';

/** The storage's own metrics, on the service registry. */
export interface StorageMetrics {
  stored: Counter;
  staleMarkers: Counter;
  redelivered: Counter;
  lateMinutes: Counter;
  invalidBatches: Counter;
  rolledUpMinutes: Counter;
  archivedRows: Counter;
}

/** Registers the storage's counters on `registry`. */
export function createStorageMetrics(registry: Registry): StorageMetrics {
  const registers = [registry];
  return {
    stored: new Counter({ name: 'tmon_storage_samples_stored_total', help: 'Samples written to the engine (a redelivered one again: the engine keeps it once)', registers }),
    staleMarkers: new Counter({ name: 'tmon_storage_stale_markers_total', help: 'Staleness markers written to the engine (series that stopped; not counted as samples)', registers }),
    redelivered: new Counter({ name: 'tmon_storage_samples_redelivered_total', help: 'Samples of SAMPLES messages delivered again (written again; the engine keeps each once)', registers }),
    lateMinutes: new Counter({ name: 'tmon_storage_late_minutes_total', help: 'Minutes marked to have their rollups computed again because samples came after them', registers }),
    invalidBatches: new Counter({ name: 'tmon_storage_invalid_batches_total', help: 'Sample batches that failed validation', registers }),
    rolledUpMinutes: new Counter({ name: 'tmon_storage_rollup_minutes_total', help: '(metric, minute) pairs whose rollups were computed from the engine', registers }),
    archivedRows: new Counter({ name: 'tmon_storage_archived_rows_total', help: 'Rollup rows and raw samples written to the archive by retention', registers }),
  };
}
