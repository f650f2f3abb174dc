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
// A series seen for the first time is also added to one index set per tag, so a filtered read need not
// parse every series of the metric. ARGV: ttl, then (field, ts, value) per key.
const UPDATE_SCRIPT = `
local ttl = ARGV[1]
local touched = {}
for i = 1, #KEYS do
  local field, ts, value = ARGV[i*3-1], ARGV[i*3], ARGV[i*3+1]
  local current = redis.call('HGET', KEYS[i], field)
  if not current or tonumber(string.match(current, '^(%S+)')) <= tonumber(ts) then
    if redis.call('HSET', KEYS[i], field, ts .. ' ' .. value) == 1 then
      for k, v in pairs(cjson.decode(field)) do redis.call('SADD', KEYS[i] .. '|' .. k .. '=' .. v, field) end
    end
  end
  touched[KEYS[i]] = true
end
for key in pairs(touched) do redis.call('EXPIRE', key, ttl) end
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
    const latest = new Map<string, { field: string; sample: Sample }>();
    for (const sample of samples) {
      const field = JSON.stringify(sortTags(sample.tags));
      const id = `${sample.name}\u0000${field}`;
      const seen = latest.get(id);
      if (!seen || seen.sample.ts <= sample.ts) latest.set(id, { field, sample });
    }
    if (latest.size === 0) return;
    const keys: string[] = [];
    const args: string[] = [String(this.ttlSeconds)];
    for (const { field, sample } of latest.values()) {
      keys.push(this.key(sample.name));
      args.push(field, String(sample.ts), String(sample.value));
    }
    await this.redis.eval(UPDATE_SCRIPT, keys.length, ...keys, ...args);
  }

  /** Current values of `name` whose tags include `filter`; a filtered read uses the tag index sets. */
  async read(name: string, filter: Record<string, string>): Promise<CurrentValue[]> {
    const key = this.key(name);
    const entries = Object.entries(filter);
    let fields: [string, string][];
    if (entries.length === 0) {
      fields = Object.entries(await this.redis.hgetall(key));
    } else {
      const sets = entries.map(([k, v]) => `${key}|${k}=${v}`);
      const candidates = sets.length === 1 ? await this.redis.smembers(sets[0]!) : await this.redis.sinter(...sets);
      if (candidates.length === 0) return [];
      const raw = await this.redis.hmget(key, ...candidates);
      fields = [];
      const gone: string[] = [];
      candidates.forEach((field, i) => (raw[i] == null ? gone.push(field) : fields.push([field, raw[i]!])));
      // Series whose hash expired leave index entries behind; drop them as they are met.
      if (gone.length) await Promise.all(sets.map((set) => this.redis.srem(set, ...gone)));
    }
    // Sorted by the field (the JSON of the sorted tags), compared as plain strings: a stable order for
    // clients, without serializing tags again for every comparison.
    fields.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const values: CurrentValue[] = [];
    for (const [field, raw] of fields) {
      const tags = JSON.parse(field) as Record<string, string>;
      if (!matchesTags(tags, filter)) continue;
      const space = raw.indexOf(' ');
      values.push({ name, tags, ts: Number(raw.slice(0, space)), value: Number(raw.slice(space + 1)) });
    }
    return values;
  }
}
