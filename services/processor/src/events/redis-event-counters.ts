import type { Redis } from 'ioredis';
import type { CounterIncrement, CounterTotals, EventCounters } from '../pipeline/index.ts';

/** Seconds a stream message stays marked as counted: far longer than any redelivery takes. */
const SEEN_TTL_SECONDS = 86_400;

// Marking the message and incrementing happen in one script, so a crash between them cannot count a message twice or
// not at all. KEYS[1]: the message's marker; KEYS[2]: the counters' totals; KEYS[3]: each counter's last timestamp.
// ARGV[1]: the marker's TTL, then (series, kind, by, ts) per increment. Returns (total, ts) per increment as strings
// (Lua numbers would come back truncated to integers); a redelivery returns what the first delivery returned, kept in
// the marker. A total is stamped after the counter's last one, so a counter never goes back in time: events counted
// out of order (two replicas, skewed clocks, late events) read as a reset to PromQL, which counted phantom increases.
// Never past Redis' clock, though: a counter of more than a thousand events a second ran ahead a millisecond an event,
// and one event dated ahead (a game's clock) took its counter into the future; past it, totals share the last stamp.
// {'overflow', series} when a sum would leave the doubles: nothing is written, and the message is refused.
const COUNT_SCRIPT = `
local seen = redis.call('GET', KEYS[1])
if seen and seen ~= '1' then return cjson.decode(seen) end
local out = {}
if seen then
  -- Marked by a release that kept no answer: the totals as they are now.
  for i = 2, #ARGV, 4 do
    out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i]) or ''
    out[#out + 1] = redis.call('HGET', KEYS[3], ARGV[i]) or ARGV[i + 3]
  end
  return out
end
for i = 2, #ARGV, 4 do
  if ARGV[i + 1] ~= 'count' then
    local sum = (tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0') or 0) + tonumber(ARGV[i + 2])
    if sum ~= sum or sum == math.huge or sum == -math.huge then return {'overflow', ARGV[i]} end
  end
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
for i = 2, #ARGV, 4 do
  local series, kind, by, ts = ARGV[i], ARGV[i + 1], ARGV[i + 2], math.min(tonumber(ARGV[i + 3]), now)
  local total
  if kind == 'count' then total = tostring(redis.call('HINCRBY', KEYS[2], series, by))
  else total = redis.call('HINCRBYFLOAT', KEYS[2], series, by) end
  local last = tonumber(redis.call('HGET', KEYS[3], series) or '')
  if last and ts <= last then
    if last + 1 <= now then ts = last + 1 else ts = last end
  end
  local stamp = string.format('%d', ts)
  redis.call('HSET', KEYS[3], series, stamp)
  out[#out + 1] = total
  out[#out + 1] = stamp
end
redis.call('SET', KEYS[1], cjson.encode(out), 'EX', ARGV[1])
return out
`;

const COMMAND = 'tmonCountEvent';
type CountCommand = (numKeys: number, ...args: (string | number)[]) => Promise<string[]>;

/**
 * Event counters in Redis: one hash of totals by series key (`<prefix>events:counters`), one of each counter's last
 * timestamp (`<prefix>events:counters:ts`) and, per stream message, a marker (`<prefix>events:seen:<seq>`) holding what
 * it emitted, so a redelivery emits the same without adding.
 */
export class RedisEventCounters implements EventCounters {
  private readonly countScript: CountCommand;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand(COMMAND, { lua: COUNT_SCRIPT });
    this.countScript = (redis as unknown as Record<string, CountCommand>)[COMMAND]!.bind(redis);
  }

  /** Key of the hash of counter totals. */
  get countersKey(): string {
    return `${this.prefix}events:counters`;
  }

  async count(seq: number, increments: readonly CounterIncrement[]): Promise<CounterTotals> {
    if (increments.length === 0) return { totals: [] };
    const args = increments.flatMap((inc) => [inc.series, inc.kind, String(inc.by), String(Math.trunc(inc.ts))]);
    const out = await this.countScript(3, `${this.prefix}events:seen:${seq}`, this.countersKey, `${this.countersKey}:ts`, SEEN_TTL_SECONDS, ...args);
    if (out[0] === 'overflow') return { overflow: out[1]! };
    const totals: CounterTotals['totals'] = [];
    for (let i = 0; i < out.length; i += 2) totals.push(out[i] === '' ? undefined : { total: Number(out[i]), ts: Number(out[i + 1]) });
    return { totals };
  }
}
