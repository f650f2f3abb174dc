import type { Alert, AlertState, ChannelName, Severity } from '@terminusa/alerting';
import type { AlertTransitionKind } from '@terminusa/bus';
import { renderTemplate } from '@terminusa/alerting';

/** One entry of the outbox stream: a state change written atomically with it. */
export interface OutboxEvent {
  streamId: string;
  stateKey: string;
  seq: number;
  kind: AlertTransitionKind;
  from: AlertState;
  at: number;
  alert: Alert;
  /** Channels the alert was sent to while firing (where its resolution goes). */
  notified: ChannelName[];
}

/** Decodes a stream entry's field list. */
export function decodeOutboxEvent(streamId: string, fields: string[]): OutboxEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const labels = JSON.parse(f.labels || '{}') as Record<string, string>;
  const value = Number(f.value || 0);
  const at = Number(f.at);
  const to = f.to as AlertState;
  const alert: Alert = {
    id: f.id!,
    rule: f.rule!,
    severity: f.severity as Severity,
    state: to,
    labels,
    value,
    summary: renderTemplate(f.summaryTpl ?? '', labels, value),
    message: renderTemplate(f.messageTpl ?? '', labels, value),
    startsAt: Number(f.since || at),
    ...(f.firedAt ? { firedAt: Number(f.firedAt) } : {}),
    ...(to === 'resolved' ? { resolvedAt: at } : {}),
    ...(f.ackBy ? { ack: { by: f.ackBy, at: Number(f.ackAt), ...(f.ackComment ? { comment: f.ackComment } : {}) } } : {}),
    channels: JSON.parse(f.channels || '[]') as ChannelName[],
  };
  return {
    streamId,
    stateKey: f.key!,
    seq: Number(f.seq),
    kind: f.kind as AlertTransitionKind,
    from: f.from as AlertState,
    at,
    alert,
    notified: JSON.parse(f.notified || '[]') as ChannelName[],
  };
}
