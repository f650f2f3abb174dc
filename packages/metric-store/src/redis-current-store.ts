import type { Redis } from 'ioredis';
import type { Sample } from '@terminusa/bus';
import { matchesTags, tagsIdentity } from './series-key.ts';

/** The latest value of one series. */
export interface CurrentValue {
  name: string;
  tags: Record<string, string>;
  value: number;
  ts: number;
}

// A redelivered or late batch must not overwrite a newer value, so the timestamp comparison happens in Redis.
// A series seen for the first time is also added to one index set per tag, so a filtered read need not
// parse every series of the metric. Fields are read and written a chunk at a time (HMGET, HSET) rather than
// one call each, which is most of a script's cost; chunks stay well below Lua's limit on unpacked values.
// ARGV: ttl, then per key: its field count n and n × (field, ts, value).
const UPDATE_SCRIPT = `
local ttl = ARGV[1]
local at = 2
local CHUNK = 1000
for i = 1, #KEYS do
  local key = KEYS[i]
  local n = tonumber(ARGV[at])
  at = at + 1
  for first = 0, n - 1, CHUNK do
    local last = math.min(first + CHUNK, n) - 1
    local fields = {}
    for j = first, last do fields[#fields + 1] = ARGV[at + j * 3] end
    local current = redis.call('HMGET', key, unpack(fields))
    local writes = {}
    local added = {}
    for j = first, last do
      local field, ts, value = ARGV[at + j * 3], ARGV[at + j * 3 + 1], ARGV[at + j * 3 + 2]
      local seen = current[j - first + 1]
      if not seen then
        added[#added + 1] = field
        writes[#writes + 1] = field
        writes[#writes + 1] = ts .. ' ' .. value
      elseif tonumber(string.match(seen, '^(%S+)')) <= tonumber(ts) then
        writes[#writes + 1] = field
        writes[#writes + 1] = ts .. ' ' .. value
      end
    end
    if #writes > 0 then redis.call('HSET', key, unpack(writes)) end
    for _, field in ipairs(added) do
      for k, v in pairs(cjson.decode(field)) do redis.call('SADD', key .. '|' .. k .. '=' .. v, field) end
    end
  end
  at = at + n * 3
  redis.call('EXPIRE', key, ttl)
end
return 0
`;

/**
 * Series per script call, at most: a batch of a large fleet holds tens of thousands of series, and one call with
 * all of them (three arguments each) overflowed the stack spreading its arguments past about 130,000. A script
 * holds Redis while it runs (2–6 µs a series), and a call of 10,000 series kept everyone else (the processors'
 * admissions, the alert-manager, the gateway's reads) waiting 50–70 ms at a time under a fleet's load; the calls of
 * a batch are sent at once, so smaller ones cost little more.
 */
const FIELDS_PER_CALL = 1_000;

/** Removes fields (ARGV) from the index sets (KEYS[2..]) where the hash (KEYS[1]) does not hold them. */
const DROP_STALE_SCRIPT = `
for _, field in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[1], field) == 0 then
    for i = 2, #KEYS do redis.call('SREM', KEYS[i], field) end
  end
end
return 0
`;

/**
 * Current value of every series in Redis: one hash per metric name, one field per tag set. A sample older than
 * `maxSampleAgeMs` when it is written (a backfill, a producer's replay after an outage) goes to history only: it is
 * not current, as an instant query's lookback leaves it out in Prometheus, and a day's backfill spent a fifth of the
 * storage's time and Redis' writing every old sample here.
 */
export class RedisCurrentStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly maxSampleAgeMs = Infinity,
  ) {}

  private key(name: string): string {
    return `${this.prefix}current:${name}`;
  }

  /** Records the newest sample of each series in `samples`. */
  async update(samples: readonly Sample[]): Promise<void> {
    const byName = new Map<string, Map<string, Sample>>();
    const oldest = Date.now() - this.maxSampleAgeMs;
    for (const sample of samples) {
      if (sample.ts < oldest) continue;
      let latest = byName.get(sample.name);
      if (!latest) byName.set(sample.name, (latest = new Map()));
      const field = tagsIdentity(sample.tags);
      const seen = latest.get(field);
      if (!seen || seen.ts <= sample.ts) latest.set(field, sample);
    }
    const calls: { keys: string[]; args: (string | number)[] }[] = [];
    let call = { keys: [] as string[], args: [this.ttlSeconds] as (string | number)[] };
    let fields = 0;
    for (const [name, latest] of byName) {
      const entries = [...latest];
      for (let first = 0; first < entries.length; ) {
        if (fields === FIELDS_PER_CALL) {
          calls.push(call);
          call = { keys: [], args: [this.ttlSeconds] };
          fields = 0;
        }
        const part = entries.slice(first, first + FIELDS_PER_CALL - fields);
        call.keys.push(this.key(name));
        call.args.push(part.length);
        for (const [field, sample] of part) call.args.push(field, sample.ts, sample.value);
        fields += part.length;
        first += part.length;
      }
    }
    if (call.keys.length > 0) calls.push(call);
    await Promise.all(calls.map((c) => this.redis.eval(UPDATE_SCRIPT, c.keys.length, ...c.keys, ...c.args)));
  }

  /**
   * Current values of `name` whose tags include `filter`, but those of stopped series (a staleness marker) and those
   * older than `maxSampleAgeMs` (a series that stopped without one: the hash's TTL is renewed by any series of the
   * metric, so a host gone days ago stayed "current"); a filtered read uses the tag index sets.
   */
  async read(name: string, filter: Record<string, string>, now = Date.now()): Promise<CurrentValue[]> {
    const oldest = now - this.maxSampleAgeMs;
    const key = this.key(name);
    const entries = Object.entries(filter);
    let fields: [string, string][];
    if (entries.length === 0) {
      fields = Object.entries(await this.redis.hgetall(key));
    } else {
      const sets = entries.map(([k, v]) => `${key}|${k}=${v}`);
      const candidates = sets.length === 1 ? await this.redis.smembers(sets[0]!) : await this.redis.sinter(...sets);
      if (candidates.length === 0) return [];
      // In parts: spreading a whole large metric's candidates as one call's arguments overflows the stack.
      const parts = chunks(candidates, FIELDS_PER_CALL);
      const raw = (await Promise.all(parts.map((part) => this.redis.hmget(key, ...part)))).flat();
      fields = [];
      const gone: string[] = [];
      candidates.forEach((field, i) => (raw[i] == null ? gone.push(field) : fields.push([field, raw[i]!])));
      // Series whose hash expired leave index entries behind; dropped as they are met, each only while its field is
      // still missing: a write between the read and the drop indexed it afresh, and the drop unindexed a live series.
      if (gone.length) await Promise.all(chunks(gone, FIELDS_PER_CALL).map((part) => this.redis.eval(DROP_STALE_SCRIPT, 1 + sets.length, key, ...sets, ...part)));
    }
    // Sorted by the field (the JSON of the sorted tags), compared as plain strings: a stable order for
    // clients, without serializing tags again for every comparison.
    fields.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const values: CurrentValue[] = [];
    for (const [field, raw] of fields) {
      const tags = JSON.parse(field) as Record<string, string>;
      if (!matchesTags(tags, filter)) continue;
      const space = raw.indexOf(' ');
      const value = Number(raw.slice(space + 1));
      // A staleness marker (NaN) is kept as the newest entry, so an older value delivered late cannot come back.
      const ts = Number(raw.slice(0, space));
      if (Number.isNaN(value) || ts < oldest) continue;
      values.push({ name, tags, ts, value });
    }
    return values;
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}
