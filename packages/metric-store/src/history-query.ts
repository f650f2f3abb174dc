import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import type pg from 'pg';
import { tagsOfLabels } from './engine/import-lines.ts';
import { selector, type VictoriaMetrics } from './engine/victoria-metrics.ts';
import { COMPUTED_WATERMARKS_SQL, readComputedWatermarks, type Watermarks } from './rollup/watermarks.ts';
import { seriesKey, sortTags, tagsIdentity } from './series-key.ts';
import { ROLLUP_TIERS, TIER_BUCKET_MS, TIER_TABLE, TIERS, type RollupTier, type Tier } from './tiers.ts';

/** Where history is read from: the rollup tiers in PostgreSQL and the raw samples in the engine. */
export interface HistoryStores {
  pool: pg.Pool;
  engine: VictoriaMetrics;
}

/** How the values of one bucket, and of series combined, are reduced. */
export const HISTORY_AGGS = ['avg', 'min', 'max', 'sum'] as const;
/** One reduction of {@link HISTORY_AGGS}. */
export type HistoryAgg = (typeof HISTORY_AGGS)[number];

/** A history query: which series, which time range, at what resolution and reduced how. */
export interface HistoryQuery {
  name: string;
  /** Exact-match tag filter: a series matches when its tags include all of these. */
  tags: Readonly<Record<string, string>>;
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, inclusive. */
  to: number;
  /** Wanted bucket width in ms; raised to the bucket of the tier that answers, and rounded up to a multiple of it. */
  step?: number;
  /** Reduction within a bucket and across combined series; without it each series is answered alone, averaged. */
  agg?: HistoryAgg;
  /** Tag keys whose values form groups: series of one group are combined into one answered series. */
  groupBy?: readonly string[];
  /** Most points the answer holds (over all series); more are cut and the answer is marked `truncated`. */
  maxPoints: number;
  /** How long each tier keeps data (ms), as `tierRetentionMs` (tiers.ts) reads it from the config. */
  retention: Readonly<Record<Tier, number>>;
  /** The present (epoch ms) that retention counts back from; defaults to the clock. */
  now?: number;
  /** Most raw samples the read may hold at once, all its exports together (RAW_SAMPLES_PER_READ unless set). */
  maxRawSamples?: number;
}

/**
 * Most raw samples a history read holds at once, over all its exports (about 16 bytes each in memory): a raw
 * stretch is counted before it is read, but the minutes after the 1m rollup watermark are read raw whatever their
 * size, and when the rollups fall hours behind a dashboard's reads of a wide metric held hours of every series'
 * samples at once, in each stretch of the read.
 */
const RAW_SAMPLES_PER_READ = 2_000_000;

/** The raw samples a read may hold at once: its own bound, or RAW_SAMPLES_PER_READ. */
const rawLimit = (q: HistoryQuery) => q.maxRawSamples ?? RAW_SAMPLES_PER_READ;

/**
 * The raw samples one attempt at a read may still hold, shared by its exports, which run side by side: the first to
 * pass it ends the others (their samples would be dropped anyway) and the read fails with RawSamplesTooMany.
 */
export class RawBudget {
  private readonly stop = new AbortController();
  readonly signal = this.stop.signal;
  private left: number;

  constructor(private readonly limit: number) {
    this.left = limit;
  }

  /** Counts `samples` more held; past the limit, ends every export of the read and throws. */
  take(samples: number): void {
    if ((this.left -= samples) >= 0) return;
    this.fail(new RawSamplesTooMany(this.limit));
  }

  /** Ends every export of the read, which failed for `reason` (a statement or an export of its own), and throws it. */
  fail(reason: unknown): never {
    if (!this.signal.aborted) this.stop.abort(reason);
    throw this.signal.reason;
  }
}

/** A read that needs more raw samples than it may hold: answered 503, with what to do about it. */
export class RawSamplesTooMany extends Error {
  constructor(limit: number) {
    super(`the read needs more than ${limit} raw samples at once: the rollups are behind (the minutes after their 1m watermark are read raw) or the selection is too wide; narrow it with tags or a shorter range, or ask again once the rollups have caught up`);
    this.name = 'RawSamplesTooMany';
  }
}

/** A history query as a caller states it that leaves retention and the clock to whoever runs it (the gateway). */
export type HistoryRequest = Omit<HistoryQuery, 'retention' | 'now'>;

/** A raw point `[ts, value]`, or a bucket `[start, value, min, max]` whose band is its smallest and largest sample. */
export type HistoryPoint = [ts: number, value: number] | [ts: number, value: number, min: number, max: number];

/** A stretch of the answer read from one tier: rows with `start <= ts < end`, in buckets of `step` ms (0: raw points). */
export interface HistorySegment {
  tier: Tier;
  step: number;
  start: number;
  end: number;
}

/** What a history query answers. */
export interface HistoryAnswer {
  /** The tier and step of the oldest stretch, i.e. the finest tier that still covers `from`. */
  tier: Tier;
  step: number;
  /** Oldest first, each starting where the one before ends; more than one when the range was stitched. */
  segments: HistorySegment[];
  series: { tags: Record<string, string>; points: HistoryPoint[] }[];
  truncated: boolean;
}

/** A function that answers history queries (the gateway gets one with the pool and retention bound). */
export type HistoryQueryFn = (q: HistoryRequest) => Promise<HistoryAnswer>;

/** Steps below this are answered from raw samples; from it on only rollups answer (their finest bucket). */
const RAW_STEP_LIMIT_MS = TIER_BUCKET_MS['1m'];
/**
 * How far past a tier's retention a range may start and still be read from it (see planSegments); retention keeps
 * each tier's rows this much longer, so the rows are there at a partition's edge too.
 */
export const COVERAGE_GRACE_MS = 60_000;

/**
 * How long past its retention and grace retention keeps the tiers a late sample's recompute reads (5m for its hour's
 * 1h row, 1h for its day's 1d row): the recompute decides by the retention to read them, and a drop before it read
 * them left the coarser row built from part of its range.
 */
const RECOMPUTE_READ_MARGIN_MS = 3_600_000;

/** How long past its retention a rollup tier's partitions are kept: retention drops one only once it ends this far past. */
export function keptPastRetentionMs(tier: RollupTier): number {
  return COVERAGE_GRACE_MS + (tier === '5m' || tier === '1h' ? RECOMPUTE_READ_MARGIN_MS : 0);
}

const alignDown = (t: number, step: number) => Math.floor(t / step) * step;
const alignUp = (t: number, step: number) => Math.ceil(t / step) * step;
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number) => (a / gcd(a, b)) * b;

/** The step a tier answers with: the wanted step raised to the tier's bucket and rounded up to a multiple of it (raw: as wanted, 0 for points). */
function tierStep(tier: Tier, step: number | undefined): number {
  if (tier === 'raw') return step ?? 0;
  const bucket = TIER_BUCKET_MS[tier];
  return alignUp(Math.max(step ?? bucket, bucket), bucket);
}

/**
 * The stretches a query reads when `target` is the finest tier wanted. Each instant is read from the finest tier
 * at least as coarse as `target` that still holds it; only tiers that are kept longer than every finer one in the
 * chain take part (raw is kept a day, 1m only two hours, so raw hands over to 1h directly). The oldest stretch
 * starts at `from`'s bucket in the finest tier covering `from` (from >= now - retention) whose partition holding that
 * bucket's start is still kept, or in the coarsest tier when none is. A finer tier takes over at the first boundary of both steps at or after its retention cutoff, so no
 * bucket straddles a hand-over: every row falls in exactly one stretch. Neighbours with equal steps (a step of 1h
 * read from 5m and from 1m) are one stretch of the coarser tier, which holds the same sums in fewer rows.
 */
export function planSegments(target: Tier, q: Pick<HistoryQuery, 'from' | 'to' | 'step' | 'retention'>, now: number): HistorySegment[] {
  const chain: Tier[] = [];
  for (const tier of TIERS.slice(TIERS.indexOf(target))) {
    const finer = chain.at(-1);
    if (finer === undefined || q.retention[tier] > q.retention[finer]) chain.push(tier);
  }
  // A minute's grace: a client's "last 24 hours" computed on its own clock starts a few milliseconds before the 5m
  // tier's 24 h, and was read from the 1h tier; retention drops whole partitions, so those rows are still there.
  const startIn = (tier: Tier) => {
    const step = tierStep(tier, q.step);
    return step ? alignDown(q.from, step) : q.from;
  };
  // And the partition its first bucket starts in is still kept: a step wider than the tier's partitions (2 h read
  // from 1m) starts in one retention may have dropped already, and that bucket summed part of its range.
  const holdsStart = (tier: Tier) => {
    if (tier === 'raw') return true;
    const { partitionMs } = TIER_TABLE[tier];
    return alignDown(startIn(tier), partitionMs) + partitionMs > now - q.retention[tier] - keptPastRetentionMs(tier);
  };
  let oldest = chain.findIndex((tier) => q.from >= now - q.retention[tier] - COVERAGE_GRACE_MS && holdsStart(tier));
  if (oldest < 0) oldest = chain.length - 1;
  const first = chain[oldest]!;
  const firstStep = tierStep(first, q.step);
  const segments: HistorySegment[] = [{ tier: first, step: firstStep, start: startIn(first), end: 0 }];
  for (let i = oldest - 1; i >= 0; i--) {
    const tier = chain[i]!;
    const step = tierStep(tier, q.step);
    const before = segments.at(-1)!;
    const boundary = alignUp(Math.max(now - q.retention[tier], before.start + 1), lcm(before.step, step || 1));
    if (boundary > q.to) continue;
    if (step === before.step) continue;
    before.end = boundary;
    segments.push({ tier, step, start: boundary, end: 0 });
  }
  const last = segments.at(-1)!;
  last.end = last.step ? alignDown(q.to, last.step) + last.step : q.to + 1;
  return segments;
}

/** Output series: each matching series' index into `tags`, which holds the tags each answered series carries. */
interface Grouping {
  ids: string[];
  /** Each matching series' tags identity, as the engine's labels give it back. */
  identities: string[];
  group: number[];
  tags: Record<string, string>[];
}

/** A series a query answers: its id in `series` ('' while only the engine knows it: no rollup rows yet) and tags. */
interface FoundSeries {
  id: string;
  tags: Record<string, string>;
}

/**
 * The series of `name` whose tags include the filter: those PostgreSQL knows (the rollups' series, kept as long as
 * the tiers) and those with raw samples in the engine in the range, which the rollups may not have seen yet.
 */
async function findSeries(stores: HistoryStores, q: HistoryQuery, now: number): Promise<FoundSeries[]> {
  const rawFrom = Math.max(q.from, now - q.retention.raw);
  const [{ rows }, labels] = await Promise.all([
    // Named: its generic plan (the name index, then the tags) is the right one for any name and filter.
    stores.pool.query<FoundSeries>({ name: 'history-series', text: 'SELECT id, tags FROM series WHERE name = $1 AND tags @> $2::jsonb', values: [q.name, JSON.stringify(q.tags)] }),
    rawFrom <= q.to ? stores.engine.series(selector(q.name, q.tags), rawFrom, q.to) : [],
  ]);
  const byKey = new Map<string, FoundSeries>();
  for (const r of rows) byKey.set(seriesKey(q.name, r.tags), r);
  for (const l of labels) {
    const tags = tagsOfLabels(l);
    const key = seriesKey(q.name, tags);
    if (!byKey.has(key)) byKey.set(key, { id: '', tags });
  }
  return [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, s]) => s);
}

function groupSeries(found: readonly FoundSeries[], q: HistoryQuery): Grouping {
  const grouping: Grouping = { ids: found.map((s) => s.id), identities: found.map((s) => tagsIdentity(s.tags)), group: [], tags: [] };
  const index = new Map<string, number>();
  for (const s of found) {
    let key: string;
    let tags: Record<string, string>;
    if (q.groupBy) {
      key = JSON.stringify(q.groupBy.map((k) => s.tags[k] ?? null));
      tags = sortTags(Object.fromEntries(q.groupBy.filter((k) => s.tags[k] !== undefined).map((k) => [k, s.tags[k]!])));
    } else if (q.agg) {
      key = '';
      tags = {};
    } else {
      key = tagsIdentity(s.tags);
      tags = sortTags(s.tags);
    }
    let g = index.get(key);
    if (g === undefined) {
      index.set(key, (g = grouping.tags.length));
      grouping.tags.push(tags);
    }
    grouping.group.push(g);
  }
  return grouping;
}

/** The part of a grouping that answers its first `n` groups. */
function firstGroups(grouping: Grouping, n: number): Grouping {
  const kept = grouping.ids.map((_, i) => i).filter((i) => grouping.group[i]! < n);
  return { ids: kept.map((i) => grouping.ids[i]!), identities: kept.map((i) => grouping.identities[i]!), group: kept.map((i) => grouping.group[i]!), tags: grouping.tags.slice(0, n) };
}

/** Placeholders for one statement's parameters, numbered as they are added. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * A column of float8 packed in one value: the big-endian bytes float8send writes, joined, in base64. Building and
 * parsing number texts cost PostgreSQL and the gateway's single thread several times more; base64 travels in two
 * thirds of the bytes of bytea's hex text. Over loopback the size counts more than it seems: a result of more than
 * about 140 KB waits for the receiver's delayed acknowledgement (40 ms) whenever its last 64 KB segment goes alone
 * (tcpdump of `pnpm bench:query`'s 100-series reads), which was most of their p99.
 */
const packed = (expr: string, as: string) => `encode(string_agg(float8send(${expr}), ''::bytea), 'base64') AS ${as}`;

/** Partial buckets of `rows` (series_id, bucket, count, sum, min, max) summed per series and `bucket`, an expression of theirs. */
const summedInto = (bucket: string, rows: string) =>
  `SELECT series_id, ${bucket}, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max FROM (${rows}) AS f GROUP BY 1, 2`;

/** A group's rows as {@link packed} columns: epoch ms, then partial buckets. */
type RowColumns = { key: string; ts: string; count: string; sum: string; min: string; max: string };

/** Rows of one answered series: times, and per row a partial bucket (a raw sample is a bucket of one, `count` absent). */
interface Columns {
  ts: ArrayLike<number>;
  count?: ArrayLike<number>;
  sum: ArrayLike<number>;
  min: ArrayLike<number>;
  max: ArrayLike<number>;
}

/** One stretch's statement, and whether its rows are keyed by series id (mapped to their group here) or by group index. */
interface SegmentRead {
  name?: string;
  text: string;
  values: unknown[];
  keyedBySeries: boolean;
}

/** A range `[start, end)` of a stretch read from one rollup tier. */
interface TierPart {
  tier: RollupTier;
  start: number;
  end: number;
}

/**
 * The rollup rows a stretch of `seg.tier` reads: its own buckets up to where that tier has been computed, then
 * each finer tier up to its own watermark. What lies past the 1m watermark comes from the engine's raw samples.
 * Watermarks are bucket-aligned and each tier's is at most the finer one's, so every bucket is read whole from one
 * tier and no row counts twice.
 */
function tierParts(seg: HistorySegment, marks: Watermarks): TierPart[] {
  const parts: TierPart[] = [];
  let from = seg.start;
  for (const tier of ROLLUP_TIERS.slice(0, ROLLUP_TIERS.indexOf(seg.tier as RollupTier) + 1).reverse()) {
    const end = Math.min(seg.end, marks[tier]);
    if (end > from) parts.push({ tier, start: from, end });
    from = Math.max(from, marks[tier]);
  }
  return parts;
}

/**
 * The statement of a stretch's rollup rows. When every answered series is one stored series and the stretch reads
 * its tier at the tier's own resolution, its rows already are its points: they are returned as they are, a finer
 * tier's rows past the tier's watermark summed into its buckets, and the few that still share a bucket (two finer
 * tiers' in one) are merged by {@link pointsOf}. Otherwise
 * PostgreSQL reduces the rows of each group and bucket first, which keeps what travels to the size of the answer.
 * Neither sorts: sorting every row cost more than half of a 100-series read, so rows are grouped by hashing and put
 * in time order here. Each group's rows travel as a few {@link packed} columns.
 */
function segmentStatement(seg: HistorySegment, tiers: readonly TierPart[], grouping: Grouping): SegmentRead {
  const p = new Params();
  // Series only the engine knows yet have no rollup rows.
  const stored = grouping.ids.flatMap((id, i) => (id ? [i] : []));
  const ids = p.add(stored.map((i) => grouping.ids[i]!));
  const oneSeriesPerGroup = grouping.tags.length === grouping.ids.length;
  const asStored = oneSeriesPerGroup && seg.tier !== 'raw' && seg.step === TIER_BUCKET_MS[seg.tier];
  const epochMs = (col: string) => `round(date_part('epoch', ${col}) * 1000)`;
  let step: string | undefined;
  const parts = tiers.map((part) => {
    const binned = seg.step !== TIER_BUCKET_MS[part.tier];
    const at = binned ? `date_bin(${(step ??= p.add(`${seg.step} milliseconds`))}::interval, bucket, 'epoch')` : 'bucket';
    const rows = `SELECT series_id, ${at} AS b, count::float8 AS count, sum, min, max FROM ${TIER_TABLE[part.tier].table}
      WHERE series_id = ANY(${ids}::bigint[]) AND bucket >= ${p.add(new Date(part.start))} AND bucket < ${p.add(new Date(part.end))}`;
    // A finer tier's rows past the stretch's tier's watermark, summed into its buckets (as in oneStretchStatement).
    return asStored && binned ? summedInto('b', rows) : rows;
  });
  const columns = [packed(epochMs('b'), 'ts'), packed('count', 'count'), packed('sum', 'sum'), packed('min', 'min'), packed('max', 'max')].join(', ');
  let text: string;
  if (asStored) {
    text = `WITH parts AS (${parts.join('\n UNION ALL ')})
      SELECT series_id::text AS key, ${columns} FROM parts GROUP BY series_id`;
  } else {
    // Counts are summed as float8 (exact to 2^53): numeric arithmetic would double the cost.
    text = `WITH sel AS (SELECT * FROM unnest(${ids}::bigint[], ${p.add(stored.map((i) => grouping.group[i]!))}::int[]) AS t(id, g)),
      parts AS (${parts.join('\n UNION ALL ')}),
      cells AS (SELECT sel.g, p.b, sum(p.count) AS count, sum(p.sum) AS sum, min(p.min) AS min, max(p.max) AS max
        FROM parts p JOIN sel ON sel.id = p.series_id GROUP BY sel.g, p.b)
      SELECT g::text AS key, ${columns} FROM cells GROUP BY g`;
  }
  // A read of one series (a dashboard panel, asked again and again) is a named statement, so each connection
  // plans its shape once: planning costs about as much as running it. A read of many series is planned for its
  // ids and range every time, because the generic plan PostgreSQL would settle on reads 100 series several
  // times slower.
  const name = stored.length === 1 ? `history-${createHash('sha1').update(text).digest('hex').slice(0, 20)}` : undefined;
  return { ...(name ? { name } : {}), text, values: p.values, keyedBySeries: asStored };
}

const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/** The doubles of a {@link packed} column, in a fresh aligned array in this machine's byte order. */
function float64s(base64: string): Float64Array {
  const bytes = Buffer.from(base64, 'base64');
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (HOST_LITTLE_ENDIAN) Buffer.from(copy.buffer).swap64();
  return new Float64Array(copy.buffer);
}

/** Rows from several reads of one series or group, as one set of columns. */
function concatColumns(parts: readonly Columns[]): Columns {
  if (parts.length === 1) return parts[0]!;
  const n = parts.reduce((sum, part) => sum + part.ts.length, 0);
  const out = { ts: new Float64Array(n), count: new Float64Array(n), sum: new Float64Array(n), min: new Float64Array(n), max: new Float64Array(n) };
  let at = 0;
  for (const part of parts) {
    out.ts.set(part.ts, at);
    if (part.count) out.count.set(part.count, at);
    else out.count.fill(1, at, at + part.ts.length);
    out.sum.set(part.sum, at);
    out.min.set(part.min, at);
    out.max.set(part.max, at);
    at += part.ts.length;
  }
  return out;
}

/** One group's points from its rows: binned by `step`, in time order, the rows of one bucket merged. */
function pointsOf(rows: Columns, step: number, agg: HistoryAgg): HistoryPoint[] {
  const n = rows.ts.length;
  const times = new Float64Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    times[i] = step ? Math.floor(rows.ts[i]! / step) * step : rows.ts[i]!;
    if (i > 0 && times[i]! < times[i - 1]!) sorted = false;
  }
  const order = sorted ? undefined : Array.from({ length: n }, (_, k) => k).sort((a, b) => times[a]! - times[b]!);
  const { count: counts, sum: sums, min: mins, max: maxs } = rows;
  const points: HistoryPoint[] = [];
  let ts = NaN;
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  const flush = () => {
    const value = agg === 'avg' ? sum / count : agg === 'sum' ? sum : agg === 'min' ? min : max;
    points.push(step ? [ts, value, min, max] : [ts, value]);
  };
  for (let k = 0; k < n; k++) {
    const i = order ? order[k]! : k;
    if (times[i] !== ts) {
      if (count > 0) flush();
      ts = times[i]!;
      count = 0;
      sum = 0;
      min = Infinity;
      max = -Infinity;
    }
    count += counts ? counts[i]! : 1;
    sum += sums[i]!;
    if (mins[i]! < min) min = mins[i]!;
    if (maxs[i]! > max) max = maxs[i]!;
  }
  if (count > 0) flush();
  return points;
}

/** The engine's raw samples of the grouping's series in `[start, end)`, as columns per group. */
async function readRaw(stores: HistoryStores, q: HistoryQuery, budget: RawBudget, grouping: Grouping, start: number, end: number): Promise<Columns[][]> {
  const groupOf = new Map(grouping.identities.map((identity, i) => [identity, grouping.group[i]!]));
  const out: Columns[][] = grouping.tags.map(() => []);
  for (const s of await exportRaw(stores.engine, q, budget, start, end)) {
    const g = groupOf.get(tagsIdentity(s.tags));
    if (g === undefined) continue;
    out[g]!.push({ ts: s.timestamps, sum: s.values, min: s.values, max: s.values });
  }
  return out;
}

/** Reads one stretch: the points of each group of `grouping`. */
async function readSegment(stores: HistoryStores, q: HistoryQuery, budget: RawBudget, seg: HistorySegment, grouping: Grouping, agg: HistoryAgg, marks: Watermarks): Promise<HistoryPoint[][]> {
  const tiers = seg.tier === 'raw' ? [] : tierParts(seg, marks);
  const rawStart = seg.tier === 'raw' ? seg.start : Math.max(seg.start, marks['1m']);
  const statement = tiers.length && grouping.ids.some(Boolean) ? segmentStatement(seg, tiers, grouping) : undefined;
  const [rows, raw] = await Promise.all([
    statement ? stores.pool.query<RowColumns>(statement) : undefined,
    rawStart < seg.end ? readRaw(stores, q, budget, grouping, rawStart, seg.end) : undefined,
  ]);
  const columns: Columns[][] = raw ?? grouping.tags.map(() => []);
  if (rows) {
    const groupOfSeries = statement!.keyedBySeries ? new Map(grouping.ids.flatMap((id, i) => (id ? [[id, grouping.group[i]!] as const] : []))) : undefined;
    for (const r of rows.rows) {
      columns[groupOfSeries ? groupOfSeries.get(r.key)! : Number(r.key)]!.push({ ts: float64s(r.ts), count: float64s(r.count), sum: float64s(r.sum), min: float64s(r.min), max: float64s(r.max) });
    }
  }
  return columns.map((parts) => (parts.length ? pointsOf(concatColumns(parts), seg.step, agg) : []));
}

/** Buckets a plan's stretches of rollups (or of raw with a step) answer with for `groups` answered series. */
function bucketPoints(segments: readonly HistorySegment[], groups: number, q: HistoryQuery, now: number): number {
  let points = 0;
  for (const seg of segments) {
    if (!seg.step) continue;
    // Data older than its tier's retention is gone (or about to be), so an open-ended `from` does not count.
    const start = Math.max(seg.start, alignDown(now - q.retention[seg.tier], seg.step));
    points += groups * Math.max(0, Math.ceil((seg.end - start) / seg.step));
  }
  return points;
}

/** Points a plan answers with: buckets per answered series, raw stretches counted (up to `limit`). */
async function estimatePoints(stores: HistoryStores, segments: readonly HistorySegment[], grouping: Grouping, q: HistoryQuery, now: number): Promise<number> {
  let points = bucketPoints(segments, grouping.tags.length, q, now);
  for (const seg of segments) {
    if (seg.tier !== 'raw' || points > q.maxPoints) continue;
    // Raw has no fixed rate, so its samples are counted by the engine; with a step too, since every one of them is
    // exported to be binned here (24 h of a large fleet at 30 s buckets was read whole).
    const counted = await stores.engine.query(`sum(count_over_time(${selector(q.name, q.tags)}[${seg.end - seg.start}ms]))`, seg.end - 1);
    points += counted[0]?.value ?? 0;
  }
  return points;
}

/**
 * The plan of a candidate tier. Without a step the answer keeps one step throughout, the bucket of the finest tier
 * that covers `from` (as Graphite and RRDtool read the finest archive that covers the whole range): evenly spaced
 * points whose bands mean the same everywhere, and no more points than that step needs. Finer tiers are stitched in
 * only when a step finer than that bucket is asked for.
 */
function planFor(target: Tier, q: HistoryQuery, now: number): HistorySegment[] {
  const segments = planSegments(target, q, now);
  const coveringStep = segments[0]!.step;
  return q.step === undefined && coveringStep ? planSegments(target, { ...q, step: coveringStep }, now) : segments;
}

function validate(q: HistoryQuery): void {
  if (!Number.isSafeInteger(q.from) || !Number.isSafeInteger(q.to) || q.from > q.to) throw new RangeError(`from and to must be epoch ms with from <= to, got ${q.from}..${q.to}`);
  if (!Number.isSafeInteger(q.maxPoints) || q.maxPoints < 1) throw new RangeError(`maxPoints must be a positive integer, got ${q.maxPoints}`);
  if (q.step !== undefined && (!Number.isSafeInteger(q.step) || q.step < 1)) throw new RangeError(`step must be a positive integer of ms, got ${q.step}`);
  if (q.agg !== undefined && !HISTORY_AGGS.includes(q.agg)) throw new RangeError(`agg must be one of ${HISTORY_AGGS.join(', ')}, got ${String(q.agg)}`);
  for (const tier of TIERS) if (!(q.retention[tier] >= 0)) throw new RangeError(`retention of ${tier} must be ms >= 0, got ${q.retention[tier]}`);
}

/**
 * Answers a history query from the tiers and the engine: the series of `name` whose tags include `tags`, between
 * `from` and `to`.
 *
 * Tier choice: the candidates, finest first, are raw (only without a step or with a step under 1 min) and the
 * rollups 1m, 5m, 1h, 1d; a rollup answers with the step raised to its bucket. For each candidate the range is
 * planned with {@link planFor} (without a step, one step throughout: the bucket of the finest tier covering `from`;
 * with a finer step, the finest tier at least as fine as the candidate that covers each part, stitched at aligned
 * boundaries), and the first plan whose points stay within `maxPoints` is taken: answered
 * series × buckets per stretch, plus the raw samples the engine counts. When none fits, the 1d plan is read for as many answered
 * series as it fits (at least one, whose points are then cut), and the answer is marked truncated.
 *
 * Values: a bucket is `[start, start + step)` aligned to the epoch (as the rollups' date_bin), whole, for every
 * bucket that meets `from..to`; avg = Σsum / Σcount, min = min(min), max = max(max), sum = Σsum, over the
 * rows of the tier up to its watermark, of finer tiers up to theirs and the engine's raw samples after the 1m
 * watermark, and over the combined series. Raw without a step answers
 * each sample time in `from..to` (samples of combined series at one time are reduced alike).
 */
export async function queryHistory(stores: HistoryStores, q: HistoryQuery): Promise<HistoryAnswer> {
  validate(q);
  const now = q.now ?? Date.now();
  const targets = TIERS.filter((tier) => tier !== 'raw' || q.step === undefined || q.step < RAW_STEP_LIMIT_MS);
  if (targets[0] === 'raw') {
    const answered = await readRawOnly(stores, q, now);
    // The raw plan holds more samples than the answer may: the general path would count them again to learn that.
    if (answered === TOO_MANY_SAMPLES) targets.shift();
    else if (answered) return answered;
  }
  const oneStretch = await readOneStretch(stores, q, targets[0]!, now);
  if (oneStretch) return oneStretch;
  // The watermarks are read beside the series: a read needs both, and neither depends on the other.
  const [found, marks] = await Promise.all([findSeries(stores, q, now), readComputedWatermarks(stores.pool)]);
  const matched = groupSeries(found, q);
  let grouping = matched;
  let segments = planFor(targets[0]!, q, now);
  let cut = false;
  if (found.length > 0) {
    for (const target of targets) {
      segments = planFor(target, q, now);
      const estimate = await estimatePoints(stores, segments, grouping, q, now);
      if (estimate <= q.maxPoints) break;
      // Even the coarsest plan has too many points: only the groups that fit are read (at least one, then cut).
      if (target === targets.at(-1)) {
        grouping = firstGroups(matched, Math.max(1, Math.floor(q.maxPoints / (estimate / matched.tags.length))));
        cut = grouping.tags.length < matched.tags.length;
      }
    }
  }
  const agg = q.agg ?? 'avg';
  // Stretches split the rows by time, so reading them in separate statements, in parallel, still counts each
  // row once; they are joined in time order.
  const budget = new RawBudget(rawLimit(q));
  const read = found.length === 0 ? [] : await Promise.all(segments.map((seg) => readSegment(stores, q, budget, seg, grouping, agg, marks))).catch((err: unknown) => budget.fail(err));
  const points: HistoryPoint[][] = grouping.tags.map((_, g) => {
    const parts = read.map((stretch) => stretch[g]!).filter((part) => part.length > 0);
    return parts.length === 1 ? parts[0]! : ([] as HistoryPoint[]).concat(...parts);
  });
  return answerOf(segments, grouping, points, q.maxPoints, cut);
}

/** What {@link readRawOnly} answers when the raw plan holds more samples than `maxPoints`. */
const TOO_MANY_SAMPLES = Symbol('too many samples');

/**
 * A read wholly inside raw retention and without a step of a minute or more, answered by one export from the
 * engine, which holds every sample there (the rollups only sum them up): no series lookup, no count first. The
 * export is abandoned as soon as it holds more than `maxPoints` samples (or than a read may hold raw), and
 * {@link TOO_MANY_SAMPLES} returned: the caller then plans a coarser tier, as it would have from the count.
 * Undefined when the plan is not raw alone.
 */
async function readRawOnly(stores: HistoryStores, q: HistoryQuery, now: number): Promise<HistoryAnswer | typeof TOO_MANY_SAMPLES | undefined> {
  const segments = planFor('raw', q, now);
  const seg = segments[0]!;
  if (segments.length !== 1 || seg.tier !== 'raw') return undefined;
  const exported: { key: string; found: FoundSeries; columns: Columns }[] = [];
  // More samples than a read may hold raw: a coarser tier answers too, as it does past the answer's points.
  const most = Math.min(q.maxPoints, rawLimit(q));
  let samples = 0;
  for await (const s of stores.engine.export(selector(q.name, q.tags), seg.start, seg.end - 1)) {
    samples += s.timestamps.length;
    if (samples > most) return TOO_MANY_SAMPLES;
    const tags = tagsOfLabels(s.labels);
    exported.push({ key: seriesKey(q.name, tags), found: { id: '', tags }, columns: { ts: s.timestamps, sum: s.values, min: s.values, max: s.values } });
  }
  // In the order of the general path: by series key.
  exported.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const grouping = groupSeries(
    exported.map((e) => e.found),
    q,
  );
  const columns: Columns[][] = grouping.tags.map(() => []);
  exported.forEach((e, i) => columns[grouping.group[i]!]!.push(e.columns));
  const agg = q.agg ?? 'avg';
  return answerOf(
    segments,
    grouping,
    columns.map((parts) => (parts.length ? pointsOf(concatColumns(parts), seg.step, agg) : [])),
    q.maxPoints,
    false,
  );
}

/**
 * The 1m watermark each pool's reads saw last: a lower bound of the current one, since watermarks only move
 * forward (a restore may move them back, which {@link readOneStretch} notices). It lets the raw tail be read from
 * the engine at the same time as the rows, rather than after the watermarks.
 */
const lastOneMinuteMark = new WeakMap<pg.Pool, number>();

/**
 * The most series a grouped or combined stretch reads rows for, binned here: past it the general path reads it,
 * reduced per group in PostgreSQL (a fleet's `agg=avg` moved every series' rows into the gateway).
 */
const GROUPED_STRETCH_MAX_SERIES = 10_000;
/**
 * Bucket rows a grouped one-stretch read takes in, its series together; past it the general path sums them per group
 * in the statement. Bounded by series alone, a day of 10,000 series' 5-minute rows (2.8 million) came into the gateway
 * for an answer of one line.
 */
const GROUPED_STRETCH_MAX_ROWS = 250_000;

/** A row of {@link oneStretchStatement}: a series with its rows (null when it has none in range), and the 1m watermark the rows end at. */
type StretchRow = { key: string | null; tags: Record<string, string> | null; ts: string | null; count: string | null; sum: string | null; min: string | null; max: string | null; mark: number };

/**
 * One statement for a stretch of one rollup tier: the series of the name and tag filter, each with its rows of the
 * tier up to its watermark and of each finer tier up to its own (as {@link tierParts} divides them), and the 1m
 * watermark the rows end at, read in the same snapshot as the rows. At least one row comes back (the watermark).
 * Past `maxSeries` series no rows are read, only the series: the answer could not hold their buckets. The finer
 * tiers' rows (up to a day of hours past the 1d watermark) are summed into the stretch's buckets here, and so are the
 * tier's own when the step is coarser than its bucket: what travels is about one row a point.
 */
function oneStretchStatement(q: HistoryQuery, seg: HistorySegment, maxSeries: number): { name: string; text: string; values: unknown[] } {
  const tiers = ROLLUP_TIERS.slice(0, ROLLUP_TIERS.indexOf(seg.tier as RollupTier) + 1).reverse();
  const mark = (tier: RollupTier) => `m.m${tier}`;
  const parts = tiers.map((tier, i) => {
    const from = ['$3::timestamptz', ...tiers.slice(0, i).map(mark)];
    return `SELECT series_id, bucket, count::float8 AS count, sum, min, max FROM ${TIER_TABLE[tier].table}, m
      WHERE series_id IN (SELECT id FROM s) AND (SELECT count(*) FROM s) <= $5::int
        AND bucket >= GREATEST(${from.join(', ')}) AND bucket < LEAST($4::timestamptz, ${mark(tier)})`;
  });
  const ownAsStored = seg.step === TIER_BUCKET_MS[seg.tier as RollupTier];
  const [asStored, binned] = ownAsStored ? [parts.slice(0, 1), parts.slice(1)] : [[], parts];
  const bins = binned.length ? [summedInto("date_bin($6::interval, bucket, 'epoch') AS bucket", binned.join('\n UNION ALL '))] : [];
  const text = `WITH m AS (${COMPUTED_WATERMARKS_SQL}),
      s AS (SELECT id, tags FROM series WHERE name = $1 AND tags @> $2::jsonb),
      parts AS (${[...asStored, ...bins].join('\n UNION ALL ')}),
      r AS (SELECT series_id, ${packed("round(date_part('epoch', bucket) * 1000)", 'ts')}, ${['count', 'sum', 'min', 'max'].map((c) => packed(c, c)).join(', ')} FROM parts GROUP BY series_id)
    SELECT s.id::text AS key, s.tags, r.ts, r.count, r.sum, r.min, r.max, round(date_part('epoch', m.m1m) * 1000)::float8 AS mark
      FROM m LEFT JOIN (s LEFT JOIN r ON r.series_id = s.id) ON true`;
  // Prepared once per tier and connection, and planned once (the pools' plan_cache_mode): planning the union over
  // every tier's partitions took half of the statement's 2 ms for one series.
  const values = [q.name, JSON.stringify(q.tags), new Date(seg.start), new Date(seg.end), maxSeries, ...(bins.length ? [`${seg.step} milliseconds`] : [])];
  return { name: `history-stretch-${seg.tier}${ownAsStored ? '' : '-binned'}`, text, values };
}

/**
 * A read of one stretch of a rollup tier (the common dashboard read, grouped or not) in one round trip. The series,
 * their rows and the watermarks come in one statement while the engine's raw samples after the 1m watermark are
 * exported beside it, from the watermark this pool saw last (the samples before the one the statement read are
 * then dropped); the series are then grouped as the general path groups them. Undefined when the query reads more
 * than one stretch, or when its answer would hold more than maxPoints buckets: the general path then plans a
 * coarser tier, or cuts groups.
 */
async function readOneStretch(stores: HistoryStores, q: HistoryQuery, target: Tier, now: number): Promise<HistoryAnswer | undefined> {
  const segments = planFor(target, q, now);
  const seg = segments[0]!;
  if (segments.length !== 1 || seg.tier === 'raw') return undefined;
  let hint = lastOneMinuteMark.get(stores.pool);
  if (hint === undefined) lastOneMinuteMark.set(stores.pool, (hint = (await readComputedWatermarks(stores.pool))['1m']));
  // Its own budget: what it held is dropped when it leaves the read to the general path.
  const budget = new RawBudget(rawLimit(q));
  const exportFrom = (from: number) => (Math.max(seg.start, from) < seg.end ? exportRaw(stores.engine, q, budget, Math.max(seg.start, from), seg.end) : Promise.resolve([]));
  // Without groupBy or agg every series is a group of its own, so more series than the answer holds buckets for
  // need not be read: a 7-day read of 100 series read 16,800 hourly rows before the general path chose days.
  const grouped = q.groupBy !== undefined || q.agg !== undefined;
  const perSeries = Math.max(1, bucketPoints(segments, 1, q, now));
  const maxSeries = grouped ? Math.max(1, Math.min(GROUPED_STRETCH_MAX_SERIES, Math.floor(GROUPED_STRETCH_MAX_ROWS / perSeries))) : Math.floor(q.maxPoints / perSeries);
  const [{ rows }, tail] = await Promise.all([stores.pool.query<StretchRow>(oneStretchStatement(q, seg, maxSeries)), exportFrom(hint)]).catch((err: unknown) => budget.fail(err));
  const mark = rows[0]!.mark;
  lastOneMinuteMark.set(stores.pool, mark);
  if (grouped && rows.filter((r) => r.key !== null).length > maxSeries) return undefined;
  // The watermark moved back (a restore): the raw samples between it and the one seen before are read too.
  if (mark < hint) tail.push(...(await exportRaw(stores.engine, q, budget, Math.max(seg.start, mark), Math.min(seg.end, hint))));

  const found = new Map<string, { tags: Record<string, string>; parts: Columns[] }>();
  const entry = (tags: Record<string, string>) => {
    const key = seriesKey(q.name, tags);
    let e = found.get(key);
    if (!e) found.set(key, (e = { tags, parts: [] }));
    return e;
  };
  for (const r of rows) {
    if (r.key === null) continue;
    const e = entry(r.tags!);
    if (r.ts) e.parts.push({ ts: float64s(r.ts), count: float64s(r.count!), sum: float64s(r.sum!), min: float64s(r.min!), max: float64s(r.max!) });
  }
  for (const s of tail) {
    // Samples the rows already hold (before the watermark the statement read) are left out.
    const first = s.timestamps.findIndex((t) => t >= mark);
    if (first < 0) continue;
    const values = s.values.slice(first);
    entry(s.tags).parts.push({ ts: s.timestamps.slice(first), sum: values, min: values, max: values });
  }
  // In the order of the general path: series by key, groups as their first series comes.
  const ordered = [...found.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, e]) => e);
  const grouping = groupSeries(
    ordered.map((e) => ({ id: '', tags: e.tags })),
    q,
  );
  if (bucketPoints(segments, grouping.tags.length, q, now) > q.maxPoints) return undefined;
  const columns: Columns[][] = grouping.tags.map(() => []);
  ordered.forEach((e, i) => columns[grouping.group[i]!]!.push(...e.parts));
  const agg = q.agg ?? 'avg';
  return answerOf(
    segments,
    grouping,
    columns.map((parts) => (parts.length ? pointsOf(concatColumns(parts), seg.step, agg) : [])),
    q.maxPoints,
    false,
  );
}

/** The engine's raw samples of the query's series in `[start, end)`, with their tags, counted against `budget`. */
async function exportRaw(engine: VictoriaMetrics, q: HistoryQuery, budget: RawBudget, start: number, end: number): Promise<{ tags: Record<string, string>; timestamps: number[]; values: number[] }[]> {
  const out: { tags: Record<string, string>; timestamps: number[]; values: number[] }[] = [];
  try {
    for await (const s of engine.export(selector(q.name, q.tags), start, end - 1, budget.signal)) {
      // Leaving the loop by a throw ends the export: the rest is never read.
      budget.take(s.timestamps.length);
      out.push({ tags: tagsOfLabels(s.labels), timestamps: s.timestamps, values: s.values });
    }
  } catch (err) {
    // Ended by a sibling export past the budget: the read fails for that reason, not for the abort.
    throw budget.signal.aborted ? budget.signal.reason : err;
  }
  return out;
}

/** The answer from each group's points: groups without points left out, at most `maxPoints` points in all. */
function answerOf(segments: HistorySegment[], grouping: Grouping, points: HistoryPoint[][], maxPoints: number, cut: boolean): HistoryAnswer {
  let room = maxPoints;
  let truncated = cut;
  const series: HistoryAnswer['series'] = [];
  grouping.tags.forEach((tags, g) => {
    const all = points[g]!;
    if (all.length === 0 || room === 0) {
      truncated ||= all.length > 0;
      return;
    }
    truncated ||= all.length > room;
    const kept = all.length > room ? all.slice(0, room) : all;
    room -= kept.length;
    series.push({ tags, points: kept });
  });
  return { tier: segments[0]!.tier, step: segments[0]!.step, segments, series, truncated };
}
