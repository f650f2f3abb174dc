// The words alerts are told in, once for the whole suite. This module imports nothing, so the CLI can load it at start
// and the dashboard can bundle it for the browser (both through `@terminusa/bus/alert-vocabulary`); the schemas in
// schemas.ts are built from it, and everything else takes it from the package index.

/** Alert severities, most urgent first (the seed's alert_levels). */
export const SEVERITIES = ['critical', 'warning', 'info'] as const;
/** An alert's severity. */
export type Severity = (typeof SEVERITIES)[number];

/** States of an alert (Prometheus' inactive → pending → firing, plus resolved). */
export const ALERT_STATES = ['inactive', 'pending', 'firing', 'resolved'] as const;
/** An alert state. */
export type AlertState = (typeof ALERT_STATES)[number];

/** The states of an active alert: the ones `/alerts/active` lists. */
export const ACTIVE_ALERT_STATES = ['pending', 'firing'] as const satisfies readonly AlertState[];

/** Notification channels. */
export const CHANNELS = ['slack', 'email', 'webhook', 'dashboard'] as const;
/** A notification channel. */
export type ChannelName = (typeof CHANNELS)[number];

/** Kinds of an alert transition: one change in an alert's life, as the state scripts write it and `alerts.events` carries it. */
export const ALERT_TRANSITION_KINDS = ['pending', 'firing', 'resolved', 'inactive', 'acknowledged', 'renotify'] as const;
/** The kind of an alert transition. */
export type AlertTransitionKind = (typeof ALERT_TRANSITION_KINDS)[number];

/** Kinds of an alert history event: a recorded transition, or what the notification path did about one. */
export const ALERT_HISTORY_KINDS = ['pending', 'firing', 'resolved', 'inactive', 'acknowledged', 'renotified', 'notified', 'delivery-failed', 'silenced', 'inhibited'] as const;
/** The kind of an alert history event. */
export type AlertHistoryKind = (typeof ALERT_HISTORY_KINDS)[number];

/**
 * The history kind that records each transition kind: a re-notification keeps both its stored spellings, `renotify` as
 * a transition (Redis outbox entries, `alerts.events`, the `kind` label of `tmon_alert_events_total`) and `renotified`
 * as a history row (PostgreSQL `alert_events`), because renaming either would need a migration.
 */
export const HISTORY_KIND_OF_TRANSITION = {
  pending: 'pending',
  firing: 'firing',
  resolved: 'resolved',
  inactive: 'inactive',
  acknowledged: 'acknowledged',
  renotify: 'renotified',
} as const satisfies Record<AlertTransitionKind, AlertHistoryKind>;
