import { Counter, Gauge, type Registry } from 'prom-client';
import { SUBJECTS, type Bus } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { BackupOutcome } from './schedule/backup-queue.ts';

/**
 * Exports each backup's outcome as Prometheus metrics on the ops port, and publishes it as samples on the
 * bus (source `backup`), so it is stored like any metric and an alert rule on `backup_failed` can page.
 */
export function outcomeReporter(registry: Registry, bus: Bus, logger: Logger): (outcome: BackupOutcome) => void {
  const lastSuccess = new Gauge({ name: 'tmon_backup_last_success_timestamp_seconds', help: 'When the last successful backup of each kind finished', labelNames: ['kind'], registers: [registry] });
  const size = new Gauge({ name: 'tmon_backup_size_bytes', help: 'Size on disk of the last backup of each kind', labelNames: ['kind'], registers: [registry] });
  const duration = new Gauge({ name: 'tmon_backup_duration_seconds', help: 'Duration of the last backup of each kind', labelNames: ['kind'], registers: [registry] });
  const rows = new Gauge({ name: 'tmon_backup_rows', help: 'Rows in the last backup of each kind', labelNames: ['kind'], registers: [registry] });
  const failures = new Counter({ name: 'tmon_backup_failures_total', help: 'Backups that failed', labelNames: ['kind'], registers: [registry] });
  return (outcome) => {
    const now = Date.now();
    const tags = { kind: outcome.kind };
    const samples = [
      { name: 'backup_failed', value: outcome.ok ? 0 : 1, ts: now, tags },
      { name: 'backup_duration_seconds', value: outcome.durationSeconds, ts: now, tags },
    ];
    duration.set(tags, outcome.durationSeconds);
    if (outcome.ok) {
      lastSuccess.set(tags, now / 1000);
      size.set(tags, outcome.bytes ?? 0);
      rows.set(tags, outcome.rows ?? 0);
      samples.push({ name: 'backup_size_bytes', value: outcome.bytes ?? 0, ts: now, tags }, { name: 'backup_last_success_timestamp_seconds', value: now / 1000, ts: now, tags });
    } else {
      failures.inc(tags);
    }
    bus.persist(SUBJECTS.ingest, ['backup'], { samples }).catch((err: unknown) => logger.warn('could not publish backup metrics', { err }));
  };
}
