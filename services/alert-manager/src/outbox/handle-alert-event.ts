import { HISTORY_KIND_OF_TRANSITION, SUBJECTS, type Bus } from '@terminusa/bus';
import type { PgAlertStore } from '@terminusa/alerting';
import type { NotifyContext, NotifyStage } from '../notify/notify-stage.ts';
import type { OutboxEvent } from './outbox-event.ts';

/**
 * What happens to each relayed state change, in order: it is recorded in the alert history, published on
 * `alerts.events`, and (firing, re-notification, resolution) sent down the notification path. Every step is
 * idempotent by the event's (alert, seq), so a replay after a crash records and sends nothing twice.
 */
export function handleAlertEvent(store: PgAlertStore, bus: Bus, notify: NotifyStage, onEvent?: (event: OutboxEvent) => void) {
  return async (event: OutboxEvent): Promise<void> => {
    await store.record(event.alert, {
      id: `${event.alert.id}:${event.seq}`,
      alertId: event.alert.id,
      kind: HISTORY_KIND_OF_TRANSITION[event.kind],
      at: event.at,
      detail: { from: event.from, to: event.alert.state, value: event.alert.value, ...(event.alert.ack ? { ack: event.alert.ack } : {}) },
    });
    bus.publish(SUBJECTS.alertEvents, [], { kind: event.kind, seq: event.seq, at: event.at, alert: event.alert });
    onEvent?.(event);
    if (event.kind === 'firing' || event.kind === 'renotify' || event.kind === 'resolved') {
      const ctx: NotifyContext = { event, channels: [] };
      await notify(ctx);
    }
  };
}
