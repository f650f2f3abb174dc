import { Router, type Request } from 'express';
import { z } from 'zod';
import { IngestMessageSchema, IngestSampleSchema, METRIC_NAME, SOURCE, SUBJECTS, TAG_KEY, type Bus } from '@terminusa/bus';
import type { PgSampleStore, RedisCurrentStore } from '@terminusa/metric-store';
import { parseOr400 } from '../http/request-errors.ts';

const HOUR_MS = 3_600_000;

/** A point in time given as epoch milliseconds or an ISO-8601 string. */
const TimeParam = z.string().transform((text, ctx) => {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO-8601 time' });
    return z.NEVER;
  }
  return ms;
});

const MetricName = z.string({ error: 'required' }).regex(METRIC_NAME, 'names must match [a-zA-Z_:][a-zA-Z0-9_:]*');
const CurrentQuery = z.object({ name: MetricName });
const HistoryQuery = z
  .object({
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

/** `tag.<key>=<value>` query parameters as a tag filter; a bad key is a 400. */
const TagFilter = z.record(z.string().regex(TAG_KEY, 'tag keys must match [a-zA-Z_][a-zA-Z0-9_]*'), z.string());
function tagQuery(req: Request): Record<string, unknown> {
  const tags: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(req.query)) if (key.startsWith('tag.')) tags[key.slice(4)] = value;
  return tags;
}

/** The metric endpoints of the seed: current values, history and custom metrics. */
export function metricsRoutes(deps: { bus: Bus; history: PgSampleStore; current: RedisCurrentStore; maxPoints: number }): Router {
  const router = Router();

  router.get('/metrics/current', async (req, res) => {
    const query = parseOr400(CurrentQuery, req.query, res);
    const tags = query && parseOr400(TagFilter, tagQuery(req), res);
    if (!query || !tags) return;
    res.json({ name: query.name, values: await deps.current.read(query.name, tags) });
  });

  router.get('/metrics/history', async (req, res) => {
    const query = parseOr400(HistoryQuery, req.query, res);
    const tags = query && parseOr400(TagFilter, tagQuery(req), res);
    if (!query || !tags) return;
    const limit = Math.min(query.limit ?? deps.maxPoints, deps.maxPoints);
    const { series, truncated } = await deps.history.history(query.name, tags, query.from, query.to, limit);
    res.json({ name: query.name, from: query.from, to: query.to, tier: 'raw', truncated, series: series.map(({ tags, points }) => ({ tags, points })) });
  });

  router.post('/metrics/custom', async (req, res) => {
    const query = parseOr400(CustomQuery, req.query, res);
    const body = query && parseOr400(CustomBody, req.body, res);
    if (!query || !body) return;
    // An Idempotency-Key makes a client's retry a no-op inside JetStream's duplicate window.
    const key = req.get('idempotency-key');
    await deps.bus.persist(SUBJECTS.ingest, [query.source], body, key ? `custom:${query.source}:${key}` : undefined);
    res.status(202).json({ accepted: body.samples.length });
  });

  return router;
}
