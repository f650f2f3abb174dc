import type { Request } from 'express';
import { z } from 'zod';
import { IngestMessageSchema, IngestSampleSchema, METRIC_NAME, SOURCE, SUBJECTS, TAG_KEY, type Bus } from '@terminusa/bus';
import type { PgSampleStore, RedisCurrentStore } from '@terminusa/metric-store';
import { parseOr400 } from '../http/request-errors.ts';
import { route, type RouteSpec } from '../http/route.ts';

const HOUR_MS = 3_600_000;

/** A point in time given as epoch milliseconds or an ISO-8601 string. */
export const TimeParam = z.string().transform((text, ctx) => {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO-8601 time' });
    return z.NEVER;
  }
  return ms;
});

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
  })
  .transform((q) => {
    const to = q.to ?? Date.now();
    return { ...q, to, from: q.from ?? to - HOUR_MS };
  })
  .refine((q) => q.from <= q.to, { message: 'from must not be after to', path: ['from'] });
const CustomQuery = z.object({ source: z.string().regex(SOURCE, 'one token of [A-Za-z0-9_-]').default('api') });
/** The body of `POST /metrics/custom`: the bus message, with every sample checked. */
const CustomBody = IngestMessageSchema.extend({ samples: z.array(IngestSampleSchema).min(1, 'at least one sample') });

const TagFilter = z.record(z.string().regex(TAG_KEY, 'tag keys must match [a-zA-Z_][a-zA-Z0-9_]*'), z.string());
function tagQuery(req: Request): Record<string, unknown> {
  const tags: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(TagParams.parse(req.query))) if (key.startsWith('tag.')) tags[key.slice(4)] = value;
  return tags;
}

/** The metric endpoints of the seed: current values, history and custom metrics. */
export function metricsRoutes(deps: { bus: Bus; history: PgSampleStore; current: RedisCurrentStore; maxPoints: number }): RouteSpec[] {
  return [
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
      summary: 'Raw points of a metric between from and to (ISO-8601 or epoch ms)',
      query: HistoryQuery,
      async handle({ query, req, res }) {
        const tags = parseOr400(TagFilter, tagQuery(req), res, 'tag filter');
        if (!tags) return;
        const limit = Math.min(query.limit ?? deps.maxPoints, deps.maxPoints);
        const { series, truncated } = await deps.history.history(query.name, tags, query.from, query.to, limit);
        res.json({ name: query.name, from: query.from, to: query.to, tier: 'raw', truncated, series: series.map(({ tags: t, points }) => ({ tags: t, points })) });
      },
    }),
    route({
      method: 'post',
      path: '/metrics/custom',
      access: 'operator',
      tag: 'metrics',
      summary: 'Push custom metrics (the body of metrics.ingest.<source>); an Idempotency-Key header makes a retry a no-op',
      query: CustomQuery,
      body: CustomBody,
      responses: { 202: 'accepted', 413: 'body too large' },
      async handle({ query, body, req, res }) {
        const key = req.get('idempotency-key');
        await deps.bus.persist(SUBJECTS.ingest, [query.source], body, key ? `custom:${query.source}:${key}` : undefined);
        res.status(202).json({ accepted: body.samples.length });
      },
    }),
  ];
}
