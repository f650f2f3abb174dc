import type { Redis } from 'ioredis';
import { alertFromState, type Alert } from '@terminusa/alerting';
import { repeatEvery, type Logger } from '@terminusa/runtime';

/** Whether a silence or an inhibition stops an alert's notification, as of when it was called. */
export type Suppression = () => Promise<(alert: Alert) => boolean>;

/** State keys looked at per recheck, at most. */
const RECHECK_BATCH = 500;

/**
 * Firing alerts whose notification a silence or an inhibition stopped, looked at again every `recheckMs`: one no
 * longer suppressed (its silence expired or was deleted, the critical alert resolved) while still firing and
 * unacknowledged is re-notified at once, as Alertmanager's next group interval would send it; without this it waited
 * for its re-notification time (30 min for a warning). A look writes no event, so a long silence adds no history.
 */
export class SuppressedAlerts {
  constructor(
    private readonly redis: Redis,
    /** The sorted set of state keys by the time each is looked at next. */
    private readonly key: string,
    private readonly recheckMs: number,
  ) {}

  /** The alert each remembered state key held when it was remembered. */
  private get ids(): string {
    return `${this.key}:ids`;
  }

  /** Remembers an alert whose notification was just stopped. */
  async remember(stateKey: string, alertId: string, now = Date.now()): Promise<void> {
    await this.redis.multi().zadd(this.key, now + this.recheckMs, stateKey).hset(this.ids, stateKey, alertId).exec();
  }

  /**
   * Looks at the alerts due: `suppression` gives, once per look (the silences and active alerts read once, not per
   * alert), whether an alert is still silenced or inhibited; `notifyNow` makes its re-notification due. Safe on every
   * replica at once: each due alert is claimed by one. Returns how many were re-notified.
   */
  async recheck(suppression: Suppression, notifyNow: (stateKey: string, now: number, alertId: string) => Promise<boolean>, now = Date.now()): Promise<number> {
    const due = await this.redis.zrangebyscore(this.key, '-inf', now, 'LIMIT', 0, RECHECK_BATCH);
    if (due.length === 0) return 0;
    const suppressed = await suppression();
    let notified = 0;
    for (const stateKey of due) {
      // Claimed first, so one replica looks at it: two that both read it due both made it due again, one after the
      // other's sweep had sent the re-notification, and it was sent twice.
      if ((await this.redis.zrem(this.key, stateKey)) === 0) continue;
      const [remembered, state] = await Promise.all([this.redis.hget(this.ids, stateKey), this.redis.hgetall(stateKey)]);
      const alert = alertFromState(state);
      // Only the alert that was stopped: a new alert of the same series (the stopped one ended meanwhile) was notified
      // on its own, and made due again here it was paged twice.
      const firing = alert?.state === 'firing' && !alert.ack && (remembered === null || remembered === alert.id);
      if (firing && suppressed(alert)) await this.redis.zadd(this.key, now + this.recheckMs, stateKey);
      else {
        if (firing && (await notifyNow(stateKey, now, alert.id))) notified++;
        await this.redis.hdel(this.ids, stateKey);
      }
    }
    return notified;
  }

  /** Rechecks every `intervalMs` until stopped. */
  schedule(suppressed: Suppression, notifyNow: (stateKey: string, now: number, alertId: string) => Promise<boolean>, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
    return repeatEvery(intervalMs, () => this.recheck(suppressed, notifyNow), (err) => logger.error('recheck of suppressed alerts failed', { err }));
  }
}
