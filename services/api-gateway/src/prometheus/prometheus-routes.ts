import type { Request } from 'express';
import { z } from 'zod';
import type { Config } from '@terminusa/config';
import type { VictoriaMetrics } from '@terminusa/metric-store';
import { route, type RouteSpec } from '../http/route.ts';
import { AnswerText } from './answer-text.ts';
import { promqlLimits, type PrometheusContext } from './call-engine.ts';
import { EngineSlots } from './engine-slots.ts';
import { labelNames, labelValues, metricMetadata, seriesQuery } from './forward-labels.ts';
import { instantQuery, rangeQuery } from './forward-query.ts';
import { PrometheusError, sendPrometheusError } from './prometheus-errors.ts';
import { formOf } from './prometheus-params.ts';

/** Where Prometheus' HTTP API is served: what the gateway answers under it is in Prometheus' shapes. */
export const PROMETHEUS_API_PREFIX = '/api/v1';

/**
 * What `/api/v1/status/buildinfo` says: a Prometheus version, so Grafana picks its Prometheus flavour (no `features`:
 * not Mimir or Cortex), and the suite's own name.
 */
const BUILD_INFO = { version: '2.42.0', revision: '', branch: '', buildUser: '', buildDate: '', goVersion: '', application: 'Terminusa Monitoring' };

/** A parameter for the API document only: any value passes, the handlers check them and answer in Prometheus' shape. */
const param = (description: string) => z.union([z.string(), z.array(z.string())]).optional().describe(description);
const TIMEOUT = param('evaluation timeout (a duration such as 10s, or seconds); at most gateway.promql.timeout');
const START = param('start of the range: RFC 3339 or epoch seconds');
const END = param('end of the range: RFC 3339 or epoch seconds');
const MATCH = param('series selector, repeatable as match[]');
const LIMIT = param('most items answered; more are cut with a warning');

const RESPONSES = { 200: `Prometheus' JSON, {"status":"success","data":…}; failures as {"status":"error","errorType","error"}: 400 bad_data, 422 execution, 503 timeout or unavailable` };

type Answer = (ctx: PrometheusContext, form: URLSearchParams, req: Request) => Promise<unknown> | unknown;

/**
 * The Prometheus HTTP query API over the engine, for Grafana's Prometheus data source and other PromQL clients:
 * each endpoint by GET (query string) and POST (form body), for viewers; the namespace label stays out of every
 * answer, and failures come in Prometheus' error shape.
 */
export function prometheusRoutes(deps: { engine: Pick<VictoriaMetrics, 'prometheusApi' | 'promql'>; settings: Readonly<Config['gateway']['promql']> }): RouteSpec[] {
  const limits = promqlLimits(deps.settings);
  const slots = new EngineSlots(deps.settings.maxConcurrent);
  const api = (path: string, summary: string, query: z.ZodType, answer: Answer): RouteSpec[] =>
    (['get', 'post'] as const).map((method) =>
      route({
        method,
        path,
        access: 'viewer',
        tag: 'prometheus',
        summary: method === 'get' ? summary : `${summary} (parameters as a form body)`,
        query,
        responses: RESPONSES,
        async handle({ req, res }) {
          const gone = new AbortController();
          res.once('close', () => {
            if (!res.writableFinished) gone.abort();
          });
          try {
            const body = await answer({ engine: deps.engine, limits, slots, signal: gone.signal }, formOf(req), req);
            if (body instanceof AnswerText) res.type('json').send(body.json);
            else res.json(body);
          } catch (err) {
            if (!(err instanceof PrometheusError)) throw err;
            sendPrometheusError(res, err);
          }
        },
      }),
    );
  return [
    ...api('/api/v1/query', 'PromQL instant query: query evaluated at time (default now)', z.looseObject({ query: param('PromQL (MetricsQL) expression'), time: param('evaluation time: RFC 3339 or epoch seconds'), timeout: TIMEOUT }), instantQuery),
    ...api(
      '/api/v1/query_range',
      'PromQL range query: query evaluated from start to end every step',
      z.looseObject({ query: param('PromQL (MetricsQL) expression'), start: START, end: END, step: param('resolution: a duration such as 1m, or seconds'), timeout: TIMEOUT }),
      rangeQuery,
    ),
    ...api('/api/v1/series', 'Label sets of the series matching match[]', z.looseObject({ 'match[]': MATCH, start: START, end: END, limit: LIMIT }), seriesQuery),
    ...api('/api/v1/labels', 'Label names, of the series matching match[] when given', z.looseObject({ 'match[]': MATCH, start: START, end: END, limit: LIMIT }), labelNames),
    ...api('/api/v1/label/:name/values', 'Values of a label, of the series matching match[] when given', z.looseObject({ 'match[]': MATCH, start: START, end: END, limit: LIMIT }), (ctx, form, req) =>
      labelValues(ctx, String(req.params.name), form),
    ),
    ...api('/api/v1/metadata', 'Metric metadata (type, help, unit) as far as the engine keeps it; none on a single node', z.looseObject({ metric: param('one metric name'), limit: LIMIT }), metricMetadata),
    ...api('/api/v1/status/buildinfo', "Build information in Prometheus' shape, naming the suite", z.looseObject({}), () => ({ status: 'success', data: BUILD_INFO })),
    ...api('/api/v1/query_exemplars', 'Exemplars: always none, the suite keeps none', z.looseObject({ query: param('PromQL expression'), start: START, end: END }), () => ({ status: 'success', data: [] })),
  ];
}
