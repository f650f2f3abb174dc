import type { Redis } from 'ioredis';
import type { Alert, AlertState, ChannelName, Severity } from '@terminusa/bus';
import { renderTemplate } from './render-template.ts';

/** Where alert state lives in Redis, under the suite's key prefix. */
export function alertKeys(prefix: string) {
  const base = `${prefix}alerts:`;
  return {
    /** Hash: the state of one rule for one series or group. */
    state: (rule: string, group: string) => `${base}state:${rule}:${group}`,
    /** Sorted set: the samples inside one rule's window for one group. */
    window: (rule: string, group: string) => `${base}window:${rule}:${group}`,
    /** Sorted set of active (pending or firing) state keys by start time (seed CACHE alerts: sorted_set). */
    active: `${base}active`,
    /** Sorted set of state keys by the time their next timer is due. */
    timers: `${base}timers`,
    /** Stream of state transitions, written atomically with them and relayed to history and notifications. */
    outbox: `${base}outbox`,
    /** Hash: alert id → state key. */
    ids: `${base}ids`,
    /** String: the channels an alert's firing notification went to, kept past its state (its resolution may come first). */
    notified: (alertId: string) => `${base}notified:${alertId}`,
    /** String: set once an alert's resolution went through the route stage; nothing of the alert is sent after it. */
    resolutionRouted: (alertId: string) => `${base}notified:${alertId}:resolved`,
    /** String: the replica evaluating a PromQL rule at one instant (expires after two intervals). */
    evaluationClaim: (rule: string, at: number) => `${base}evaluation:${rule}:${at}`,
    /** Sorted set: state keys of alerts whose notification was silenced or inhibited, by when they are looked at again. */
    suppressed: `${base}suppressed`,
    /** The newest instant whose PromQL evaluation of a rule was applied: an older one finishing later is not applied. */
    evaluatedAt: (rule: string) => `${base}evaluated:${rule}`,
    /** String: the series a recording rule wrote at its last evaluation (WrittenSeries). */
    recorded: (rule: string) => `${base}recorded:${rule}`,
    /** String: when the open notification group started (expires just before the group is flushed). */
    groupOpen: (groupKey: string) => `${base}group-open:${groupKey}`,
    /** Set: alerts waiting in a notification group is `<groupSet>:<started>`. */
    groupSet: (groupKey: string) => `${base}group:${groupKey}`,
  };
}

/** Turns a state hash into an Alert. */
export function alertFromState(h: Record<string, string>): Alert | undefined {
  if (!h.id || !h.state || h.state === 'inactive') return undefined;
  const labels = JSON.parse(h.labels ?? '{}') as Record<string, string>;
  const value = Number(h.value ?? 0);
  return {
    id: h.id,
    rule: h.rule ?? '',
    severity: (h.severity ?? 'info') as Severity,
    state: h.state as AlertState,
    labels,
    value,
    summary: renderTemplate(h.summaryTpl ?? '', labels, value),
    message: renderTemplate(h.messageTpl ?? '', labels, value),
    startsAt: Number(h.since ?? 0),
    ...(h.firedAt ? { firedAt: Number(h.firedAt) } : {}),
    ...(h.ackBy ? { ack: { by: h.ackBy, at: Number(h.ackAt), ...(h.ackComment ? { comment: h.ackComment } : {}) } } : {}),
    channels: JSON.parse(h.channels ?? '[]') as ChannelName[],
  };
}

/** Reads the active alerts (pending and firing) from Redis. */
export class RedisAlertReader {
  private readonly keys: ReturnType<typeof alertKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = alertKeys(prefix);
  }

  /** Every active alert, oldest first. */
  async active(): Promise<Alert[]> {
    const stateKeys = await this.redis.zrange(this.keys.active, 0, -1);
    if (stateKeys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of stateKeys) pipeline.hgetall(key);
    const results = (await pipeline.exec()) ?? [];
    return results.map(([, h]) => alertFromState(h as Record<string, string>)).filter((a): a is Alert => a !== undefined);
  }

  /** One active alert by id. */
  async byId(id: string): Promise<Alert | undefined> {
    const key = await this.redis.hget(this.keys.ids, id);
    return key ? alertFromState(await this.redis.hgetall(key)) : undefined;
  }
}
