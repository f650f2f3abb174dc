import { createHash } from 'node:crypto';
import type pg from 'pg';
import { durationMs, type Config } from '@terminusa/config';
import { sortTags } from './series-key.ts';
import { TIER_BUCKET_MS, TIER_TABLE, TIERS, type Tier } from './tiers.ts';

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
  /** How long each tier keeps data (ms), as {@link tierRetentionMs} reads it from the config. */
  retention: Readonly<Record<Tier, number>>;
  /** The present (epoch ms) that retention counts back from; defaults to the clock. */
  now?: number;
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

/** How long each tier is kept (ms): raw from storage.retention.raw, the rollups from aggregation.retention. */
export function tierRetentionMs(config: Readonly<Config>): Record<Tier, number> {
  const agg = config.aggregation.retention;
  return {
    raw: durationMs(config.storage.retention.raw),
    '1m': durationMs(agg['1m'] ?? '2h'),
    '5m': durationMs(agg['5m'] ?? '24h'),
    '1h': durationMs(agg['1h'] ?? '7d'),
    '1d': durationMs(agg['1d'] ?? '90d'),
  };
}

/** Steps below this are answered from raw samples; from it on only rollups answer (their finest bucket). */
const RAW_STEP_LIMIT_MS = TIER_BUCKET_MS['1m'];

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
 * starts at `from` in the finest tier covering `from` (from >= now - retention), or in the coarsest tier when none
 * does. A finer tier takes over at the first boundary of both steps at or after its retention cutoff, so no
 * bucket straddles a hand-over: every row falls in exactly one stretch. Neighbours with equal steps (a step of 1h
 * read from 5m and from 1m) are one stretch of the coarser tier, which holds the same sums in fewer rows.
 */
export function planSegments(target: Tier, q: Pick<HistoryQuery, 'from' | 'to' | 'step' | 'retention'>, now: number): HistorySegment[] {
  const chain: Tier[] = [];
  for (const tier of TIERS.slice(TIERS.indexOf(target))) {
    const finer = chain.at(-1);
    if (finer === undefined || q.retention[tier] > q.retention[finer]) chain.push(tier);
  }
  let oldest = chain.findIndex((tier) => q.from >= now - q.retention[tier]);
  if (oldest < 0) oldest = chain.length - 1;
  const first = chain[oldest]!;
  const firstStep = tierStep(first, q.step);
  const segments: HistorySegment[] = [{ tier: first, step: firstStep, start: firstStep ? alignDown(q.from, firstStep) : q.from, end: 0 }];
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
  group: number[];
  tags: Record<string, string>[];
}

function groupSeries(found: readonly { id: string; tags: Record<string, string> }[], q: HistoryQuery): Grouping {
  const grouping: Grouping = { ids: found.map((s) => s.id), group: [], tags: [] };
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
      key = s.id;
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

/** Placeholders for one statement's parameters, numbered as they are added. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * One stretch as one JSON array of points per group, built by the server: parsing one JSON text costs the
 * gateway's single thread far less than a row of five text fields per point. The text is concatenated rather
 * than built with json_build_array/json_agg, which cost a fifth of a 100-series read; float8's text is the
 * shortest that reads back as the same double, and every value is finite, so it is valid JSON. Rollup rows and
 * the not yet folded rows of rollup_pending are read in one statement (one snapshot), so a fold running
 * meanwhile moves a row from one to the other unseen: each row counts once. Raw samples already hold the
 * pending rows, so the raw tier reads samples alone.
 */
function segmentStatement(seg: HistorySegment, grouping: Grouping, agg: HistoryAgg, limit: number): { name?: string; text: string; values: unknown[] } {
  const p = new Params();
  const ids = p.add(grouping.ids);
  const groups = p.add(grouping.group);
  const step = seg.step ? p.add(`${seg.step} milliseconds`) : undefined;
  const start = p.add(new Date(seg.start));
  const end = p.add(new Date(seg.end));
  const at = (col: string) => (step ? `date_bin(${step}::interval, ${col}, 'epoch')` : col);
  const parts =
    seg.tier === 'raw'
      ? [`SELECT series_id, ${at('ts')} AS b, 1::bigint AS count, value AS sum, value AS min, value AS max FROM samples WHERE series_id = ANY(${ids}::bigint[]) AND ts >= ${start} AND ts < ${end}`]
      : [
          `SELECT series_id, ${seg.step === TIER_BUCKET_MS[seg.tier] ? 'bucket' : at('bucket')} AS b, count, sum, min, max FROM ${TIER_TABLE[seg.tier].table} WHERE series_id = ANY(${ids}::bigint[]) AND bucket >= ${start} AND bucket < ${end}`,
          `SELECT series_id, ${at('ts')}, count, coalesce(sum, value), coalesce(min, value), coalesce(max, value) FROM rollup_pending WHERE series_id = ANY(${ids}::bigint[]) AND ts >= ${start} AND ts < ${end}`,
        ];
  // Counts are summed as float8 (exact to 2^53) and times taken with date_part: numeric arithmetic would double the cost.
  const value = { avg: 'sum(p.sum) / sum(p.count::float8)', min: 'min(p.min)', max: 'max(p.max)', sum: 'sum(p.sum)' }[agg];
  const point = seg.step ? `'[' || ts || ',' || value || ',' || min || ',' || max || ']'` : `'[' || ts || ',' || value || ']'`;
  const pointRows = `SELECT sel.g, round(date_part('epoch', p.b) * 1000) AS ts, ${value} AS value, min(p.min) AS min, max(p.max) AS max
      FROM parts p JOIN sel ON sel.id = p.series_id
     GROUP BY sel.g, p.b
     ORDER BY sel.g, p.b
     LIMIT ${p.add(limit)}`;
  const text = `WITH sel AS (SELECT * FROM unnest(${ids}::bigint[], ${groups}::int[]) AS t(id, g)),
    parts AS (${parts.join('\n UNION ALL ')}),
    points AS (${pointRows})
    SELECT g, '[' || string_agg(${point}, ',' ORDER BY ts) || ']' AS points FROM points GROUP BY g`;
  // A read of one series (a dashboard panel, asked again and again) is a named statement, so each connection
  // plans its shape once: planning costs about as much as running it. A read of many series is planned for its
  // ids and range every time, because the generic plan PostgreSQL would settle on reads 100 series several
  // times slower.
  const name = grouping.ids.length === 1 ? `history-${createHash('sha1').update(text).digest('hex').slice(0, 20)}` : undefined;
  return { ...(name ? { name } : {}), text, values: p.values };
}

/** Reads one stretch: the points of each of `groups` groups. */
async function readSegment(pool: pg.Pool, statement: { name?: string; text: string; values: unknown[] }, groups: number): Promise<HistoryPoint[][]> {
  const points: HistoryPoint[][] = Array.from({ length: groups }, () => []);
  const { rows } = await pool.query<{ g: number; points: string }>(statement);
  for (const r of rows) points[r.g] = JSON.parse(r.points) as HistoryPoint[];
  return points;
}

/** Points a plan answers with: buckets per answered series, raw stretches counted (up to `limit`). */
async function estimatePoints(pool: pg.Pool, segments: readonly HistorySegment[], grouping: Grouping, q: HistoryQuery, now: number): Promise<number> {
  let points = 0;
  for (const seg of segments) {
    if (!seg.step) continue;
    // Data older than its tier's retention is gone (or about to be), so an open-ended `from` does not count.
    const start = Math.max(seg.start, alignDown(now - q.retention[seg.tier], seg.step));
    points += grouping.tags.length * Math.max(0, Math.ceil((seg.end - start) / seg.step));
  }
  for (const seg of segments) {
    if (seg.step || points > q.maxPoints) continue;
    // Raw has no fixed rate, so its rows are counted, never more than it takes to know they are too many.
    const { rows } = await pool.query<{ n: number }>({
      ...(grouping.ids.length === 1 ? { name: 'history-count-raw' } : {}),
      text: 'SELECT count(*)::int AS n FROM (SELECT 1 FROM samples WHERE series_id = ANY($1::bigint[]) AND ts >= $2 AND ts < $3 LIMIT $4) x',
      values: [grouping.ids, new Date(seg.start), new Date(seg.end), q.maxPoints - points + 1],
    });
    points += rows[0]!.n;
  }
  return points;
}

function validate(q: HistoryQuery): void {
  if (!Number.isSafeInteger(q.from) || !Number.isSafeInteger(q.to) || q.from > q.to) throw new RangeError(`from and to must be epoch ms with from <= to, got ${q.from}..${q.to}`);
  if (!Number.isSafeInteger(q.maxPoints) || q.maxPoints < 1) throw new RangeError(`maxPoints must be a positive integer, got ${q.maxPoints}`);
  if (q.step !== undefined && (!Number.isSafeInteger(q.step) || q.step < 1)) throw new RangeError(`step must be a positive integer of ms, got ${q.step}`);
  if (q.agg !== undefined && !HISTORY_AGGS.includes(q.agg)) throw new RangeError(`agg must be one of ${HISTORY_AGGS.join(', ')}, got ${String(q.agg)}`);
  for (const tier of TIERS) if (!(q.retention[tier] >= 0)) throw new RangeError(`retention of ${tier} must be ms >= 0, got ${q.retention[tier]}`);
}

/**
 * Answers a history query from the tiers: the series of `name` whose tags include `tags`, between `from` and `to`.
 *
 * Tier choice: the candidates, finest first, are raw (only without a step or with a step under 1 min) and the
 * rollups 1m, 5m, 1h, 1d; a rollup answers with the step raised to its bucket. For each candidate the range is
 * planned with {@link planSegments} (the finest tier at least as fine as the candidate that covers each part,
 * stitched at aligned boundaries), and the first plan whose points stay within `maxPoints` is taken: answered
 * series × buckets per stretch, plus the raw rows counted. When none fits, the 1d plan is read and cut.
 *
 * Values: a bucket is `[start, start + step)` aligned to the epoch (as the rollups' date_bin), whole, for every
 * bucket that meets `from..to`; avg = Σsum / Σcount, min = min(min), max = max(max), sum = Σsum, over the
 * rollup rows and the not yet folded rows of the bucket and over the combined series. Raw without a step answers
 * each sample time in `from..to` (samples of combined series at one time are reduced alike).
 */
export async function queryHistory(pool: pg.Pool, q: HistoryQuery): Promise<HistoryAnswer> {
  validate(q);
  const now = q.now ?? Date.now();
  // Named: its generic plan (the name index, then the tags) is the right one for any name and filter.
  const { rows: found } = await pool.query<{ id: string; tags: Record<string, string> }>({
    name: 'history-series',
    text: 'SELECT id, tags FROM series WHERE name = $1 AND tags @> $2::jsonb ORDER BY key',
    values: [q.name, JSON.stringify(q.tags)],
  });
  const grouping = groupSeries(found, q);
  const targets = TIERS.filter((tier) => tier !== 'raw' || q.step === undefined || q.step < RAW_STEP_LIMIT_MS);
  let segments = planSegments(targets[0]!, q, now);
  if (found.length > 0) {
    for (const target of targets) {
      segments = planSegments(target, q, now);
      if ((await estimatePoints(pool, segments, grouping, q, now)) <= q.maxPoints) break;
    }
  }
  const agg = q.agg ?? 'avg';
  // Stretches split the rows by time, so reading them in separate statements, in parallel, still counts each row once.
  // Stretches are read in parallel, then joined in time order.
  const read = found.length === 0 ? [] : await Promise.all(segments.map((seg) => readSegment(pool, segmentStatement(seg, grouping, agg, q.maxPoints + 1), grouping.tags.length)));
  const points: HistoryPoint[][] = grouping.tags.map((_, g) => {
    const parts = read.map((stretch) => stretch[g]!).filter((part) => part.length > 0);
    return parts.length === 1 ? parts[0]! : ([] as HistoryPoint[]).concat(...parts);
  });
  let room = q.maxPoints;
  let truncated = false;
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
