import type { Redis } from 'ioredis';
import { alertFromState, type Alert } from '@terminusa/alerting';
import { repeatEvery, type Logger } from '@terminusa/runtime';

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

  /** Remembers an alert whose notification was just stopped. */
  async remember(stateKey: string, now = Date.now()): Promise<void> {
    await this.redis.zadd(this.key, now + this.recheckMs, stateKey);
  }

  /**
   * Looks at the alerts due: `suppressed` says whether one is still silenced or inhibited, `notifyNow` makes its
   * re-notification due. Safe on every replica at once (the state script re-notifies a firing alert once per sweep).
   * Returns how many were re-notified.
   */
  async recheck(suppressed: (alert: Alert) => Promise<boolean>, notifyNow: (stateKey: string, now: number) => Promise<boolean>, now = Date.now()): Promise<number> {
    let notified = 0;
    for (const stateKey of await this.redis.zrangebyscore(this.key, '-inf', now, 'LIMIT', 0, RECHECK_BATCH)) {
      const alert = alertFromState(await this.redis.hgetall(stateKey));
      if (alert && alert.state === 'firing' && !alert.ack && (await suppressed(alert))) {
        await this.redis.zadd(this.key, now + this.recheckMs, stateKey);
        continue;
      }
      if (alert && alert.state === 'firing' && !alert.ack && (await notifyNow(stateKey, now))) notified++;
      await this.redis.zrem(this.key, stateKey);
    }
    return notified;
  }

  /** Rechecks every `intervalMs` until stopped. */
  schedule(suppressed: (alert: Alert) => Promise<boolean>, notifyNow: (stateKey: string, now: number) => Promise<boolean>, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
    return repeatEvery(intervalMs, () => this.recheck(suppressed, notifyNow), (err) => logger.error('recheck of suppressed alerts failed', { err }));
  }
}
