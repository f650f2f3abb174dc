import type { Redis } from 'ioredis';
import type { CounterIncrement, EventCounters } from '../pipeline/index.ts';

/** Seconds a stream message stays marked as counted: far longer than any redelivery takes. */
const SEEN_TTL_SECONDS = 86_400;

// Marking the message and incrementing happen in one script, so a crash between them cannot count a message
// twice or not at all. KEYS[1]: the message's marker; KEYS[2]: the counters hash. ARGV[1]: the marker's TTL,
// then (series, kind, by) per increment. Returns each counter's total as a string ('' when it is missing),
// since Lua numbers would come back truncated to integers.
const COUNT_SCRIPT = `
local fresh = redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1])
local totals = {}
for i = 2, #ARGV, 3 do
  local series, kind, by = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local total
  if not fresh then
    total = redis.call('HGET', KEYS[2], series)
  elseif kind == 'count' then
    total = tostring(redis.call('HINCRBY', KEYS[2], series, by))
  else
    total = redis.call('HINCRBYFLOAT', KEYS[2], series, by)
  end
  totals[#totals + 1] = total or ''
end
return totals
`;

const COMMAND = 'tmonCountEvent';
type CountCommand = (numKeys: number, ...args: (string | number)[]) => Promise<string[]>;

/**
 * Event counters in Redis: one hash of totals by series key (`<prefix>events:counters`) and, per stream
 * message, a marker (`<prefix>events:seen:<seq>`) that makes a redelivery return the totals without adding.
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

  async count(seq: number, increments: readonly CounterIncrement[]): Promise<(number | undefined)[]> {
    if (increments.length === 0) return [];
    const args = increments.flatMap((inc) => [inc.series, inc.kind, String(inc.by)]);
    const totals = await this.countScript(2, `${this.prefix}events:seen:${seq}`, this.countersKey, SEEN_TTL_SECONDS, ...args);
    return totals.map((t) => (t === '' ? undefined : Number(t)));
  }
}
