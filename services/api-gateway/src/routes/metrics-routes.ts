import type { Request } from 'express';
import { z } from 'zod';
import { IngestMessageSchema, IngestSampleSchema, METRIC_NAME, SOURCE, SUBJECTS, TAG_KEY, TAG_KEY_RULE, tagValueSchema, type Bus } from '@terminusa/bus';
import { durationMs } from '@terminusa/config';
import { HISTORY_AGGS, RawSamplesTooMany, type HistoryQueryFn, type RedisCurrentStore, type SampleStore } from '@terminusa/metric-store';
import { sendProblem } from '../http/problem.ts';
import { parseOr400 } from '../http/request-errors.ts';
import { route, type RouteSpec } from '../http/route.ts';

const HOUR_MS = 3_600_000;
/** The widest history bucket a client may ask for. */
const MAX_STEP_MS = 366 * 24 * HOUR_MS;
/** The most tag keys one history query groups by. */
const MAX_GROUP_BY = 16;

/**
 * The latest time taken: the latest a JavaScript Date holds (year 275760) less the widest bucket, so the end of the
 * bucket that holds it is still a time.
 */
const MAX_TIME_MS = 8.64e15 - MAX_STEP_MS;

/**
 * A point in time given as epoch milliseconds or an ISO-8601 string, from 1970 to MAX_TIME_MS. A date and time
 * without an offset is UTC, as a date alone is: JavaScript would read it in the server's time zone.
 */
export const TimeParam = z.string().transform((text, ctx) => {
  const utc = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text) ? `${text}Z` : text;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(utc);
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIME_MS) {
    ctx.addIssue({ code: 'custom', message: `expected epoch milliseconds (0 to ${MAX_TIME_MS}) or an ISO-8601 time` });
    return z.NEVER;
  }
  return ms;
});

/** A time in a JSON body: epoch milliseconds as a number, or any of {@link TimeParam}'s string forms. */
export const BodyTime = z.union([z.number().int().nonnegative().max(MAX_TIME_MS), TimeParam]);

/** A bucket width given as a duration (30s, 5m, 1h, 1d) or as milliseconds. */
const StepParam = z
  .string()
  .transform((text, ctx) => {
    const ms = /^\d+$/.test(text) ? Number(text) : /^\d+(ms|s|m|h|d|w)$/.test(text) ? durationMs(text) : NaN;
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_STEP_MS) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30s, 5m or 1h, or milliseconds, from 1 ms to 366d' });
      return z.NEVER;
    }
    return ms;
  })
  .describe('bucket width: a duration such as 30s, 5m, 1h, or milliseconds; raised to the bucket of the tier that answers. Without it: raw points where raw covers from, else the bucket of the finest tier covering from, throughout');

/** Comma-separated tag keys whose values group series. */
const GroupByParam = z
  .string()
  .transform((text) => [...new Set(text.split(','))])
  .pipe(z.array(z.string().regex(TAG_KEY, TAG_KEY_RULE)).max(MAX_GROUP_BY, `at most ${MAX_GROUP_BY} tag keys`))
  .describe('comma-separated tag keys: series with the same values of these tags are combined with agg (default avg)');

const MetricName = z.string({ error: 'required' }).regex(METRIC_NAME, 'names must match [a-zA-Z_:][a-zA-Z0-9_:]*');
/** `tag.<key>=<value>` filters ride along in the query. */
const TagParams = z.record(z.string(), z.unknown());
const CurrentQuery = z.looseObject({ name: MetricName });
const HistoryQuery = z
  .looseObject({
    name: MetricName,
    from: TimeParam.optional(),
    to: TimeParam.optional(),
    limit: z.coerce.number().int().positive().max(1_000_000).optional(),
    step: StepParam.optional(),
    agg: z.enum(HISTORY_AGGS).optional().describe('reduction within a bucket and across combined series; without groupBy it combines every series into one'),
    groupBy: GroupByParam.optional(),
  })
  .transform((q) => {
    const to = q.to ?? Date.now();
    return { ...q, to, from: q.from ?? to - HOUR_MS };
  })
  .refine((q) => q.from <= q.to, { message: 'from must not be after to', path: ['from'] });
const NamesQuery = z.object({
  q: z.string().max(200).optional().describe('part of the name, any case'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const CustomQuery = z.object({ source: z.string().regex(SOURCE, 'one token of [A-Za-z0-9_-]').default('api') });
/** The body of `POST /metrics/custom`: the bus message, with every sample checked. */
const CustomBody = IngestMessageSchema.extend({ samples: z.array(IngestSampleSchema).min(1, 'at least one sample') });

// An empty value would mean "no such tag" to the engine and match nothing in the rollups: refused, not half-read; so
// is a value no sample can have, which PostgreSQL refuses in the rollups' query (a NUL answered 500).
const TagFilter = z.record(z.string().regex(TAG_KEY, TAG_KEY_RULE), tagValueSchema(Number.MAX_SAFE_INTEGER).pipe(z.string().min(1, 'tag values are not empty')));
function tagQuery(req: Request): Record<string, unknown> {
  const tags: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(TagParams.parse(req.query))) if (key.startsWith('tag.')) tags[key.slice(4)] = value;
  return tags;
}

/** How long a listing of metric names is reused: names change slowly, and a search box asks on every key. */
const NAMES_CACHE_MS = 10_000;

/** `list`, its answer reused for NAMES_CACHE_MS; a failed answer is not kept, so the next request tries again. */
function cachedNames(list: () => Promise<string[]>): () => Promise<string[]> {
  let cached: { at: number; names: Promise<string[]> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > NAMES_CACHE_MS) {
      const names = list();
      cached = { at: Date.now(), names };
      names.catch(() => (cached = undefined));
    }
    return cached.names;
  };
}

/**
 * The metric endpoints of the seed: current values, history and custom metrics. History is answered by
 * `historyQuery` (the rollup tiers and the engine's raw samples, steps, aggregation).
 */
export function metricsRoutes(deps: { bus: Bus; history: Pick<SampleStore, 'names'>; historyQuery: HistoryQueryFn; current: RedisCurrentStore; maxPoints: number }): RouteSpec[] {
  const names = cachedNames(() => deps.history.names());
  return [
    route({
      method: 'get',
      path: '/metrics/names',
      access: 'viewer',
      tag: 'metrics',
      summary: 'Names of the metrics with stored history, sorted; q narrows them to names containing it (any case)',
      query: NamesQuery,
      async handle({ query, res }) {
        const q = query.q?.toLowerCase();
        const matching = (await names()).filter((n) => !q || n.toLowerCase().includes(q));
        res.json({ names: matching.slice(0, query.limit), truncated: matching.length > query.limit });
      },
    }),
    route({
      method: 'get',
      path: '/metrics/current',
      access: 'viewer',
      tag: 'metrics',
      summary: 'Current value of every series of a metric (filter with tag.<key>=<value>)',
      query: CurrentQuery,
      async handle({ query, req, res }) {
        const tags = parseOr400(TagFilter, tagQuery(req), res, 'tag filter');
        if (!tags) return;
        res.json({ name: query.name, values: await deps.current.read(query.name, tags) });
      },
    }),
    route({
      method: 'get',
      path: '/metrics/history',
      access: 'viewer',
      tag: 'metrics',
      summary: 'Points of a metric between from and to (ISO-8601 or epoch ms), raw or in buckets of step from the rollup tiers, optionally combined by agg and groupBy',
      query: HistoryQuery,
      responses: { 503: 'the read needs more raw samples at once than it may hold (the rollups behind, or too wide a selection)' },
      async handle({ query, req, res }) {
        const tags = parseOr400(TagFilter, tagQuery(req), res, 'tag filter');
        if (!tags) return;
        const limit = Math.min(query.limit ?? deps.maxPoints, deps.maxPoints);
        const { name, from, to, step, agg, groupBy } = query;
        let answer: Awaited<ReturnType<HistoryQueryFn>>;
        try {
          answer = await deps.historyQuery({ name, tags, from, to, step, agg, groupBy, maxPoints: limit });
        } catch (err) {
          // Not the request's fault, and it may well be answered later: 503, saying why and what narrows it.
          if (err instanceof RawSamplesTooMany) return sendProblem(res, 503, err.message);
          throw err;
        }
        res.json({ name, from, to, tier: answer.tier, step: answer.step, truncated: answer.truncated, segments: answer.segments, series: answer.series });
      },
    }),
    route({
      method: 'post',
      path: '/metrics/custom',
      access: 'producer',
      tag: 'metrics',
      summary: 'Push custom metrics (the body of metrics.ingest.<source>); an Idempotency-Key header makes a retry a no-op',
      query: CustomQuery,
      body: CustomBody,
      responses: { 202: 'accepted', 413: 'body too large' },
      async handle({ query, body, req, res, principal }) {
        const key = req.get('idempotency-key');
        // The key is the caller's own: two producers that both send `Idempotency-Key: 1` within the window are two
        // pushes (the second was answered 202 and dropped).
        const caller = principal?.kind === 'api-key' ? `key:${principal.id}` : `user:${principal?.subject ?? ''}`;
        await deps.bus.persist(SUBJECTS.ingest, [query.source], body, key ? `custom:${caller}:${query.source}:${key}` : undefined);
        res.status(202).json({ accepted: body.samples.length });
      },
    }),
  ];
}
