import type { Alert, RedisAlertReader } from '@terminusa/alerting';
import type { NotifyStage, RecordSuppression } from './notify-stage.ts';

/** True when a firing critical alert shares every one of `equal` labels with `alert` (and has them all). */
export function inhibitedBy(alert: Alert, active: readonly Alert[], equal: readonly string[]): Alert | undefined {
  if (alert.severity === 'critical' || equal.length === 0) return undefined;
  return active.find(
    (a) => a.id !== alert.id && a.severity === 'critical' && a.state === 'firing' && equal.every((l) => a.labels[l] !== undefined && a.labels[l] === alert.labels[l]),
  );
}

/** How long one read of the active alerts serves the inhibition checks of a burst of events. */
const ACTIVE_CACHE_MS = 200;

/** Stops warnings and infos while a critical alert with the same `equal` labels fires. */
export function inhibitStage(reader: RedisAlertReader, equal: readonly string[], record: RecordSuppression): NotifyStage {
  let cached: { at: number; alerts: Promise<Alert[]> } | undefined;
  const active = () => {
    if (!cached || Date.now() - cached.at > ACTIVE_CACHE_MS) cached = { at: Date.now(), alerts: reader.active() };
    return cached.alerts;
  };
  return async (ctx) => {
    if (ctx.event.alert.severity === 'critical' || ctx.event.kind === 'resolved') return;
    const by = inhibitedBy(ctx.event.alert, await active(), equal);
    if (!by) return;
    ctx.stoppedBy = 'inhibited';
    await record(ctx, 'inhibited', { by: by.id, rule: by.rule });
  };
}
