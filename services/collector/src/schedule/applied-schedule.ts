import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SchedulerSpec } from './job-schedulers.ts';

/** The collection configuration the schedulers were last synced to: its digest, and when its replica loaded it. */
export interface AppliedConfig {
  digest: string;
  loadedAt: number;
}

/** A digest of the schedulers a configuration asks for. */
export function scheduleDigest(desired: readonly SchedulerSpec[]): string {
  return createHash('sha256').update(JSON.stringify(desired)).digest('hex').slice(0, 16);
}

/**
 * Claims the schedulers for a configuration in one step, so two replicas never both read the record and write theirs.
 * KEYS[1]: the record. ARGV: digest, loadedAt, '1' when the configuration was just loaded (it claims whatever is there),
 * how long the record lives unless claimed again (ms).
 * Returns the record's digest and time when it is another configuration loaded later (the claim refused), else nil.
 * The time of one configuration never goes down: a replica that loaded it earlier would let an older one in again.
 */
const CLAIM_SCRIPT = `
local digest = redis.call('HGET', KEYS[1], 'digest')
local at = tonumber(redis.call('HGET', KEYS[1], 'loadedAt') or '0')
local mine = tonumber(ARGV[2])
if ARGV[3] ~= '1' and digest and digest ~= ARGV[1] and at > mine then return { digest, tostring(at) } end
if digest == ARGV[1] and at > mine then mine = at end
redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'loadedAt', tostring(mine))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return nil
`;

/**
 * Which configuration the shared schedulers follow. Replicas whose files differ for a while (a ConfigMap reaches pods
 * up to a minute or two apart) undid each other's syncs on their periodic checks: a target added by one was removed
 * by the next, with staleness markers, until every file agreed. The configuration loaded last wins; a replica holding
 * an older one leaves the schedulers be until its own file changes.
 */
export class AppliedSchedule {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    /**
     * How long a claim holds unless renewed: a replica renews it with every check while its configuration is the one
     * applied. One that no running replica holds (its replica stopped) then lapses, and the next check takes over.
     */
    private readonly holdMs: number,
  ) {}

  /**
   * Claims the schedulers for `mine`: always when it was just loaded, on a periodic check unless another configuration
   * loaded later holds them, which is then returned (and this replica leaves them be).
   */
  async claim(mine: AppliedConfig, loaded: boolean): Promise<AppliedConfig | undefined> {
    const held = (await this.redis.eval(CLAIM_SCRIPT, 1, this.key, mine.digest, mine.loadedAt, loaded ? '1' : '0', this.holdMs)) as [string, string] | null;
    return held ? { digest: held[0], loadedAt: Number(held[1]) } : undefined;
  }
}
