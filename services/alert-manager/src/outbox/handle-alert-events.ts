import { HISTORY_KIND_OF_TRANSITION, SUBJECTS, type Bus } from '@terminusa/bus';
import type { AlertHistoryEvent, PgAlertStore } from '@terminusa/alerting';
import type { NotifyContext, NotifyStage } from '../notify/notify-stage.ts';
import type { OutboxEvent } from './outbox-event.ts';
import type { OutboxHandler } from './relay-outbox.ts';

/** The history event a state change records: its id is the alert's and the change's sequence number. */
const historyEvent = (event: OutboxEvent): AlertHistoryEvent => ({
  id: `${event.alert.id}:${event.seq}`,
  alertId: event.alert.id,
  kind: HISTORY_KIND_OF_TRANSITION[event.kind],
  at: event.at,
  detail: { from: event.from, to: event.alert.state, value: event.alert.value, ...(event.alert.ack ? { ack: event.alert.ack } : {}) },
});

/**
 * What happens to relayed state changes, in order: a batch is recorded in the alert history (one transaction),
 * then each change is published on `alerts.events` and (firing, re-notification, resolution) sent down the
 * notification path. Every step is idempotent by the event's (alert, seq), so a replay after a crash records and
 * sends nothing twice.
 */
export function handleAlertEvents(store: PgAlertStore, bus: Bus, notify: NotifyStage, onEvent?: (event: OutboxEvent) => void): OutboxHandler {
  return {
    batch: (events) => store.recordAll(events.map((event) => ({ alert: event.alert, event: historyEvent(event) }))),
    async handle(event) {
      bus.publish(SUBJECTS.alertEvents, [], { kind: event.kind, seq: event.seq, at: event.at, alert: event.alert });
      onEvent?.(event);
      if (event.kind === 'firing' || event.kind === 'renotify' || event.kind === 'resolved') {
        const ctx: NotifyContext = { event, channels: [] };
        await notify(ctx);
      }
    },
  };
}
