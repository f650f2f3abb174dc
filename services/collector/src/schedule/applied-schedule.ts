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
 * Which configuration the shared schedulers follow. Replicas whose files differ for a while (a ConfigMap reaches pods
 * up to a minute or two apart) undid each other's syncs on their periodic checks: a target added by one was removed
 * by the next, with staleness markers, until every file agreed. The configuration loaded last wins; a replica holding
 * an older one leaves the schedulers be until its own file changes.
 */
export class AppliedSchedule {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  /** The applied configuration when it is another than `mine` and was loaded after it (the periodic check then waits). */
  async newerThan(mine: AppliedConfig): Promise<AppliedConfig | undefined> {
    const applied = await this.redis.hgetall(this.key);
    if (!applied.digest || applied.digest === mine.digest || Number(applied.loadedAt) <= mine.loadedAt) return undefined;
    return { digest: applied.digest, loadedAt: Number(applied.loadedAt) };
  }

  async record(applied: AppliedConfig): Promise<void> {
    await this.redis.hset(this.key, { digest: applied.digest, loadedAt: String(applied.loadedAt) });
  }
}
