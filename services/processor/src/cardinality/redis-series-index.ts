import type { Redis } from 'ioredis';
import { seriesOf, type CardinalityLimit, type CardinalityRefusal, type SeriesIndex, type SeriesOfSample } from '../pipeline/index.ts';

/** Most series per metric name and in total. */
export interface SeriesLimits {
  maxSeriesPerMetric: number;
  maxSeriesTotal: number;
}

// Checking and adding happen in one script, so two replicas admitting series at once cannot both take the
// last free place. KEYS[1]: the total counter; KEYS[1+i]: the set of known series of metric i.
// ARGV[1], ARGV[2]: the limits per metric and in total; then per metric: its candidate count n and n series keys.
// A metric with room for all its candidates even if every one is new adds them with one SADD, which counts the
// new ones (a fleet's first round is nearly all new series, and three calls per series were most of its cost);
// near a limit they are checked one by one, in order. Returns the refused candidates as flat pairs (key, limit).
const ADMIT_SCRIPT = `
local perMetric, maxTotal = tonumber(ARGV[1]), tonumber(ARGV[2])
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local added = 0
local refused = {}
local at = 3
for i = 2, #KEYS do
  local set = KEYS[i]
  local n = tonumber(ARGV[at])
  local first, last = at + 1, at + n
  local count = redis.call('SCARD', set)
  if count + n <= perMetric and total + added + n <= maxTotal then
    for from = first, last, 1000 do
      added = added + redis.call('SADD', set, unpack(ARGV, from, math.min(from + 999, last)))
    end
  else
    for j = first, last do
      local series = ARGV[j]
      if redis.call('SISMEMBER', set, series) == 0 then
        local limit
        if count >= perMetric then
          limit = 'maxSeriesPerMetric'
        elseif total + added >= maxTotal then
          limit = 'maxSeriesTotal'
        end
        if limit then
          refused[#refused + 1] = series
          refused[#refused + 1] = limit
        else
          redis.call('SADD', set, series)
          added = added + 1
          count = count + 1
        end
      end
    end
  end
  at = last + 1
end
if added > 0 then redis.call('INCRBY', KEYS[1], added) end
return refused
`;

const COMMAND = 'tmonAdmitSeries';

/** Admitted series remembered per replica; past this many the memory starts over rather than grow without bound. */
const KNOWN_LIMIT = 1_000_000;
/** How long an admitted series is remembered, so a reset of the Redis keys by an operator takes effect. */
const KNOWN_TTL_MS = 5 * 60_000;
/** Series keys in one script call, at most (more calls wait for the next): the call holds Redis while it runs. */
const KEYS_PER_CALL = 20_000;

/** Series not known yet, by metric name, then by the JSON of their tags: their series keys. */
type UnknownSeries = Map<string, Map<string, string>>;

/** A call of {@link RedisSeriesIndex.admit} waiting for its script call. */
interface WaitingAdmit {
  unknown: UnknownSeries;
  size: number;
  resolve(refused: Map<string, CardinalityRefusal>): void;
  reject(err: unknown): void;
}

type AdmitCommand = (numKeys: number, ...args: (string | number)[]) => Promise<string[]>;

/**
 * Known series in Redis: one set of series keys per metric name (`<prefix>series:<name>`) and a counter of
 * all of them (`<prefix>series-total`), exact rather than estimated since a limit is enforced on them.
 * Series stay known until their keys are removed, so a series that stopped reporting still holds its place.
 * Each replica remembers the series it saw admitted: in steady state every series is known and a message
 * costs no round trip to Redis at all. New series of messages handled at once share one round trip.
 */
export class RedisSeriesIndex implements SeriesIndex {
  private readonly admitScript: AdmitCommand;
  /**
   * Admitted series by metric name, each by the JSON of its tags (which the pipeline builds anyway, where a series
   * key would be built for this alone): a set per name stays small (the guard bounds it), and looking a fresh key up
   * in one set of a million took a microsecond, a sixth of the processor's work per sample on a million-series fleet.
   */
  private known = new Map<string, Set<string>>();
  private knownCount = 0;
  private knownSince = Date.now();
  private readonly waiting: WaitingAdmit[] = [];
  private sending = false;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly limits: SeriesLimits,
  ) {
    // defineCommand runs the script by its SHA and loads it only when Redis does not know it yet.
    redis.defineCommand(COMMAND, { lua: ADMIT_SCRIPT });
    this.admitScript = (redis as unknown as Record<string, AdmitCommand>)[COMMAND]!.bind(redis);
  }

  /** Key of the set of known series of one metric. */
  metricKey(name: string): string {
    return `${this.prefix}series:${name}`;
  }

  /** Key of the count of known series of every metric. */
  get totalKey(): string {
    return `${this.prefix}series-total`;
  }

  async admit(all: readonly SeriesOfSample[]): Promise<Map<string, CardinalityRefusal>> {
    if (this.knownCount > KNOWN_LIMIT || Date.now() - this.knownSince > KNOWN_TTL_MS) {
      this.known = new Map();
      this.knownCount = 0;
      this.knownSince = Date.now();
    }
    // The series not known yet, each once, by metric name in order of first appearance.
    const unknown: UnknownSeries = new Map();
    let size = 0;
    for (const s of all) {
      const { name } = s.sample;
      if (this.known.get(name)?.has(s.tagsJson)) continue;
      let ofName = unknown.get(name);
      if (!ofName) unknown.set(name, (ofName = new Map()));
      if (ofName.has(s.tagsJson)) continue;
      ofName.set(s.tagsJson, seriesOf(s));
      size++;
    }
    if (size === 0) return new Map();
    return new Promise((resolve, reject) => {
      this.waiting.push({ unknown, size, resolve, reject });
      this.sendWaiting();
    });
  }

  /**
   * One script call at a time: the calls made while one is in flight go together in the next (a group commit). A
   * fleet's first round is a burst of new series from every message at once, and a call per message waited its turn
   * in Redis behind the storage's writes each time: a batch took a second to admit, and the backlog grew.
   */
  private sendWaiting(): void {
    if (this.sending || this.waiting.length === 0) return;
    let n = 0;
    let size = 0;
    while (n < this.waiting.length && (n === 0 || size + this.waiting[n]!.size <= KEYS_PER_CALL)) size += this.waiting[n++]!.size;
    const group = this.waiting.splice(0, n);
    this.sending = true;
    void this.send(group).finally(() => {
      this.sending = false;
      this.sendWaiting();
    });
  }

  private async send(group: readonly WaitingAdmit[]): Promise<void> {
    try {
      const merged: UnknownSeries = new Map();
      for (const { unknown } of group) {
        for (const [name, ofName] of unknown) {
          const keys = merged.get(name);
          if (keys) for (const [tagsJson, key] of ofName) keys.set(tagsJson, key);
          else merged.set(name, new Map(ofName));
        }
      }
      const keys = [this.totalKey];
      const args: (string | number)[] = [this.limits.maxSeriesPerMetric, this.limits.maxSeriesTotal];
      for (const [name, ofName] of merged) {
        keys.push(this.metricKey(name));
        args.push(ofName.size);
        for (const key of ofName.values()) args.push(key);
      }
      const reply = await this.admitScript(keys.length, ...keys, ...args);
      const refused = new Map<string, CardinalityRefusal>();
      for (let i = 0; i < reply.length; i += 2) {
        const limit = reply[i + 1] as CardinalityLimit;
        refused.set(reply[i]!, { limit, max: this.limits[limit] });
      }
      for (const [name, ofName] of merged) {
        let known = this.known.get(name);
        for (const [tagsJson, key] of ofName) {
          if (refused.has(key) || known?.has(tagsJson)) continue;
          // Made only for an admitted series: a flood of refused names (an id in the name) made a set per name that
          // nothing counted towards KNOWN_LIMIT, millions of them in the 5 minutes until the memory was dropped.
          if (!known) this.known.set(name, (known = new Set()));
          known.add(tagsJson);
          this.knownCount++;
        }
      }
      for (const { unknown, resolve } of group) {
        const mine = new Map<string, CardinalityRefusal>();
        if (refused.size > 0) for (const ofName of unknown.values()) for (const key of ofName.values()) if (refused.has(key)) mine.set(key, refused.get(key)!);
        resolve(mine);
      }
    } catch (err) {
      for (const { reject } of group) reject(err);
    }
  }
}
