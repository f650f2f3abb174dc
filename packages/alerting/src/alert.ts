import type { Alert as BusAlert } from '@terminusa/bus';

/** States of an alert (Prometheus' inactive → pending → firing, plus resolved). */
export const ALERT_STATES = ['inactive', 'pending', 'firing', 'resolved'] as const;
/** An alert state. */
export type AlertState = (typeof ALERT_STATES)[number];

/** An alert as stored, listed and notified (its schema is the bus's). */
export type Alert = BusAlert;

/** One message to on-call: one alert, or a group of alerts that share their group labels. */
export interface Notification {
  /** Stable id of this notification (group and window), used as the idempotency key by receivers. */
  id: string;
  status: 'firing' | 'resolved';
  /** True when this repeats an unacknowledged firing alert. */
  repeat: boolean;
  groupLabels: Record<string, string>;
  alerts: Alert[];
}
