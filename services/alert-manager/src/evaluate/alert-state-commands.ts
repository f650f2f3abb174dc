import type { ChainableCommander, Redis } from 'ioredis';
import { alertKeys, type ChannelName } from '@terminusa/alerting';
import { ACK_SCRIPT, CONDITION_SCRIPT, EVALUATE_SCRIPT, MARK_NOTIFIED_SCRIPT, NOTIFY_NOW_SCRIPT, SWEEP_SCRIPT } from './alert-state-scripts.ts';

/** How long the channels told of an alert are kept apart from its state: far longer than the relay is ever behind. */
const NOTIFIED_KEPT_S = 7 * 86_400;

type Cmd = (...args: (string | number)[]) => Promise<string>;

/** What a sweep is told of a state's rule as it is now (sweep-timers.ts' sweptRule). */
export interface SweptRule {
  type: string;
  /** groupDefinition; '' but for no-data rules. */
  definition: string;
  /** writtenGroupDefinition: the same definition as records from before its one order carry it. */
  writtenDefinition: string;
  /** A no-data rule's `for`. */
  nodataMs?: number;
}

/** The alert-state scripts bound to one Redis connection and key prefix (EVALSHA under the hood). */
export class AlertStateCommands {
  readonly keys: ReturnType<typeof alertKeys>;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = alertKeys(prefix);
    redis.defineCommand('tmonEvaluate', { numberOfKeys: 6, lua: EVALUATE_SCRIPT });
    redis.defineCommand('tmonCondition', { numberOfKeys: 6, lua: CONDITION_SCRIPT });
    redis.defineCommand('tmonSweep', { numberOfKeys: 6, lua: SWEEP_SCRIPT });
    redis.defineCommand('tmonAck', { numberOfKeys: 6, lua: ACK_SCRIPT });
    redis.defineCommand('tmonMarkNotified', { numberOfKeys: 2, lua: MARK_NOTIFIED_SCRIPT });
    redis.defineCommand('tmonNotifyNow', { numberOfKeys: 2, lua: NOTIFY_NOW_SCRIPT });
  }

  /** The six keys every state script touches, for one rule and group. */
  scriptKeys(stateKey: string, windowKey: string): string[] {
    return [stateKey, windowKey, this.keys.active, this.keys.outbox, this.keys.timers, this.keys.ids];
  }

  private cmd(name: string): Cmd {
    return (this.redis as unknown as Record<string, Cmd>)[name]!.bind(this.redis);
  }

  /** Queues on `pipeline` one evaluation of a stream rule for a group with a batch's (series, ts, value) `triples`. */
  evaluateIn(pipeline: ChainableCommander, rule: string, group: string, newId: string, now: number, meta: object, triples: readonly (string | number)[]): void {
    const keys = this.scriptKeys(this.keys.state(rule, group), this.keys.window(rule, group));
    (pipeline as unknown as Record<string, (...a: (string | number)[]) => void>).tmonEvaluate!(...keys, newId, now, JSON.stringify(meta), ...triples);
  }

  /** Queues on `pipeline` one evaluation of an engine-decided condition for a rule's group: breaching with `value`, or not. */
  conditionIn(pipeline: ChainableCommander, rule: string, group: string, newId: string, now: number, meta: object, breach: boolean, value: number): void {
    const stateKey = this.keys.state(rule, group);
    (pipeline as unknown as Record<string, (...a: (string | number)[]) => void>).tmonCondition!(...this.scriptKeys(stateKey, this.keys.evaluatedAt(rule)), newId, now, JSON.stringify(meta), breach ? '1' : '0', String(value));
  }

  /** The groups of `rule` with a pending or firing alert. */
  async activeGroups(rule: string): Promise<string[]> {
    const prefix = this.keys.state(rule, '');
    return (await this.redis.zrange(this.keys.active, 0, -1)).filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length));
  }

  /**
   * Runs the timers of a state key whose rule is now `rule`; undefined (the rule is gone) or another type than the
   * state's (a threshold rule made a PromQL one: nothing evaluates the old state again) ends its alerts. Silence (no
   * data, a stale series) is judged at `intakeAt` when it is earlier than `now`: the intake stalled or behind. A
   * no-data record of another group definition than the rule's now ends too, and one of the same is judged by the
   * rule's `for` now.
   */
  sweep(stateKey: string, newId: string, now: number, rule: SweptRule | undefined, intakeAt = now): Promise<string> {
    return this.cmd('tmonSweep')(
      ...this.scriptKeys(stateKey, `${stateKey}:unused`),
      newId,
      now,
      rule?.type ?? '',
      Math.min(now, intakeAt),
      rule?.definition ?? '',
      rule?.nodataMs ?? '',
      rule?.writtenDefinition ?? '',
    );
  }

  /** Makes alert `id`'s re-notification due at `now` (the sweep sends it); false when the state holds another alert, or it is not firing or was acknowledged. */
  async notifyNow(stateKey: string, now: number, id: string): Promise<boolean> {
    return Number(await this.cmd('tmonNotifyNow')(stateKey, this.keys.timers, now, id)) === 1;
  }

  /** Acknowledges an alert by id; returns its state, 'missing' or 'already'. */
  async ack(id: string, by: string, comment: string | undefined, now: number): Promise<string> {
    const stateKey = await this.redis.hget(this.keys.ids, id);
    if (!stateKey) return 'missing';
    return this.cmd('tmonAck')(...this.scriptKeys(stateKey, `${stateKey}:unused`), id, now, by, comment ?? '');
  }

  /**
   * Adds the channels an alert was sent to to those recorded for it: in its state, which its resolution copies when it
   * is written, and apart, for a resolution written before the firing event was relayed (the relay behind, the alert
   * gone already).
   */
  async markNotified(id: string, channels: string[]): Promise<void> {
    const stateKey = (await this.redis.hget(this.keys.ids, id)) ?? `${this.keys.notified(id)}:no-state`;
    await this.cmd('tmonMarkNotified')(this.keys.notified(id), stateKey, id, JSON.stringify(channels), NOTIFIED_KEPT_S);
  }

  /**
   * Records that a firing (or re-notified) alert's event reached the notification path, before it may be silenced or
   * find no channel: its channels are none until {@link markNotified} says which.
   */
  async markRelayed(id: string): Promise<void> {
    await this.redis.set(this.keys.notified(id), '[]', 'EX', NOTIFIED_KEPT_S, 'NX');
  }

  /** Records that the alert's resolution went through the route stage: nothing of it is sent after that. */
  async markResolutionRouted(id: string): Promise<void> {
    await this.redis.set(this.keys.resolutionRouted(id), '1', 'EX', NOTIFIED_KEPT_S);
  }

  /** Whether the alert's resolution went through the route stage (kept a week, as its channels). */
  async resolutionRouted(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.resolutionRouted(id))) === 1;
  }

  /** The channels an alert was last sent to, as {@link markNotified} kept them apart; undefined when its firing event has not reached the notification path (or a week has passed). */
  async notifiedChannels(id: string): Promise<ChannelName[] | undefined> {
    const kept = await this.redis.get(this.keys.notified(id));
    return kept ? (JSON.parse(kept) as ChannelName[]) : undefined;
  }
}
