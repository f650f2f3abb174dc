import type { Redis } from 'ioredis';
import type { Sample } from '@terminusa/bus';
import { matchesTags, sortTags } from './series-key.ts';

/** The latest value of one series. */
export interface CurrentValue {
  name: string;
  tags: Record<string, string>;
  value: number;
  ts: number;
}

// A redelivered or late batch must not overwrite a newer value, so the timestamp comparison happens in Redis.
const UPDATE_SCRIPT = `
for i = 1, #KEYS do
  local field, ts, value = ARGV[i*3-2], ARGV[i*3-1], ARGV[i*3]
  local current = redis.call('HGET', KEYS[i], field)
  if not current or tonumber(string.match(current, '^(%S+)')) <= tonumber(ts) then
    redis.call('HSET', KEYS[i], field, ts .. ' ' .. value)
  end
  redis.call('EXPIRE', KEYS[i], ARGV[#ARGV])
end
return 0
`;

/** Current value of every series in Redis: one hash per metric name, one field per tag set. */
export class RedisCurrentStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private key(name: string): string {
    return `${this.prefix}current:${name}`;
  }

  /** Records the newest sample of each series in `samples`. */
  async update(samples: readonly Sample[]): Promise<void> {
    const latest = new Map<string, Sample>();
    for (const s of samples) {
      const field = JSON.stringify(sortTags(s.tags));
      const id = `${s.name}\u0000${field}`;
      const seen = latest.get(id);
      if (!seen || seen.ts <= s.ts) latest.set(id, s);
    }
    if (latest.size === 0) return;
    const keys: string[] = [];
    const args: string[] = [];
    for (const s of latest.values()) {
      keys.push(this.key(s.name));
      args.push(JSON.stringify(sortTags(s.tags)), String(s.ts), String(s.value));
    }
    args.push(String(this.ttlSeconds));
    await this.redis.eval(UPDATE_SCRIPT, keys.length, ...keys, ...args);
  }

  /** Current values of `name` whose tags include `filter`. */
  async read(name: string, filter: Record<string, string>): Promise<CurrentValue[]> {
    const fields = await this.redis.hgetall(this.key(name));
    const values: CurrentValue[] = [];
    for (const [field, raw] of Object.entries(fields)) {
      const tags = JSON.parse(field) as Record<string, string>;
      if (!matchesTags(tags, filter)) continue;
      const space = raw.indexOf(' ');
      values.push({ name, tags, ts: Number(raw.slice(0, space)), value: Number(raw.slice(space + 1)) });
    }
    return values.sort((a, b) => JSON.stringify(a.tags).localeCompare(JSON.stringify(b.tags)));
  }
}
