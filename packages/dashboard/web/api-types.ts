// The shapes the gateway's API answers, as the dashboard reads them (the gateway's OpenAPI document at /docs/api is the reference;
// services/api-gateway/src/dashboard-contract.ts checks the gateway's own types against these at compile time). The alert
// vocabulary is not restated: it comes from the bus's dependency-free module, which the browser bundle can take.
import type { AlertHistoryKind, AlertState, AlertTransitionKind, Severity } from '@terminusa/bus/alert-vocabulary';

export { SEVERITIES } from '@terminusa/bus/alert-vocabulary';
export type { Severity } from '@terminusa/bus/alert-vocabulary';

/** A role of the gateway, least to most. */
export type Role = 'viewer' | 'operator' | 'admin';

/** A normalized sample as the live stream pushes it. */
export interface Sample {
  name: string;
  value: number;
  ts: number;
  tags: Record<string, string>;
}

/** An alert as `/alerts/active`, `/alerts/history` and the live stream carry it. */
export interface Alert {
  id: string;
  rule: string;
  severity: Severity;
  state: AlertState;
  labels: Record<string, string>;
  value: number;
  summary: string;
  message: string;
  startsAt: number;
  firedAt?: number;
  resolvedAt?: number;
  ack?: { by: string; at: number; comment?: string };
  channels: string[];
}

/** One alert transition, a change in an alert's life (`alerts.events`, pushed by the live stream). */
export interface AlertTransition {
  kind: AlertTransitionKind;
  seq: number;
  at: number;
  alert: Alert;
}

/** One recorded event of an alert's history (`/alerts/history`). */
export interface AlertHistoryEvent {
  id: string;
  kind: AlertHistoryKind;
  at: number;
  detail: Record<string, unknown>;
}

/** A label matcher of a silence. */
export interface Matcher {
  tag: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** A silence that has not ended. */
export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  comment: string;
  createdBy: string;
}

/** A history point: raw `[ts, value]` or a rollup bucket `[start, value, min, max]`. */
export type HistoryPoint = [number, number] | [number, number, number, number];

/** The answer of `GET /metrics/history`. */
export interface HistoryAnswer {
  name: string;
  from: number;
  to: number;
  tier: string;
  step: number;
  truncated: boolean;
  series: { tags: Record<string, string>; points: HistoryPoint[] }[];
}

/** The latest value of one series (`GET /metrics/current`). */
export interface CurrentValue {
  name: string;
  tags: Record<string, string>;
  value: number;
  ts: number;
}

/** One discovered instance of a service. */
export interface ServiceInstance {
  service: string;
  id: string;
  instance: string;
  host: string;
  version: string;
  started: string;
  endpoints: { name: string; requests: number; errors: number; averageProcessingMs: number }[];
}

/** `GET /health/details`: the gateway's dependencies and every service's live instances. */
export interface HealthAnswer {
  status: 'ok' | 'degraded' | 'down';
  dependencies: Record<string, { ok: boolean; latencyMs?: number; error?: string }>;
  services: Record<string, { instances: number; status: 'up' | 'down'; live: ServiceInstance[] }>;
}

/** A dashboard user (`GET /users`). */
export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

/** An API key without its secret (`GET /api-keys`). */
export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revoked: boolean;
}

/** A complete backup as the backup service lists it. */
export interface BackupSummary {
  id: string;
  kind: 'full' | 'incremental';
  createdAt: string;
  previous: string | null;
  tables: number;
  rows: number;
  bytes: number;
  files: number;
  /** Why the backup cannot be trusted, when its manifest does not verify. */
  damaged?: string;
}
