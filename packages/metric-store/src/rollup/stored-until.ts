import type { Redis } from 'ioredis';

// Only ever raised: replicas record at once and in any order.
const RAISE_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
`;

/**
 * The newest sample timestamp any storage replica has stored, shared in Redis (`<prefix>stored-until`). The
 * rollups' 1m watermark does not pass it (less `storage.rollupSettle`): a pipeline that fell behind computes each
 * minute once its samples are in, where it computed the minute while they were still queued and then again, a whole
 * 5-minute window of every late metric at a time, as they came in; on a saturated machine that multiplied what the
 * rollups read from the engine, and with it the time to catch up.
 */
export class StoredUntil {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private get key(): string {
    return `${this.prefix}stored-until`;
  }

  /** Records that samples up to `ts` are stored; a future timestamp (clock skew) counts as now. */
  async record(ts: number): Promise<void> {
    if (!Number.isFinite(ts)) return;
    await this.redis.eval(RAISE_SCRIPT, 1, this.key, Math.trunc(Math.min(ts, Date.now())));
  }

  /** The newest timestamp recorded, or undefined before the first. */
  async read(): Promise<number | undefined> {
    const value = await this.redis.get(this.key);
    return value === null ? undefined : Number(value);
  }
}
