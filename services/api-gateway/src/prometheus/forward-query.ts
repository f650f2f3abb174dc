import { MAX_PROMQL_LENGTH } from '@terminusa/alerting';
import type { EngineQuery } from '@terminusa/metric-store';
import { samplesInText } from './answer-samples.ts';
import { AnswerText } from './answer-text.ts';
import { callEngineAnswer, tooManySamples, type EngineSuccess, type PrometheusContext, type PrometheusSuccess } from './call-engine.ts';
import { invalidParameter, PrometheusError } from './prometheus-errors.ts';
import { durationParam, engineSeconds, timeParam } from './prometheus-params.ts';
import { stripNamespaceText, stripQueryData } from './strip-namespace.ts';

/** A query's `data`: its result type and result (a vector, a matrix, a scalar or a string). */
export interface QueryData {
  resultType: string;
  result: unknown;
}

/** The `query` parameter, as the engine is asked it for Prometheus' answer. */
function queryParam(ctx: PrometheusContext, form: URLSearchParams): EngineQuery {
  const query = form.get('query') ?? '';
  if (query.trim() === '') throw invalidParameter('query', 'no expression found in input');
  // Before the query is parsed and worded for the engine on the gateway's event loop: the engine's own limit, as a rule's expr.
  if (query.length > MAX_PROMQL_LENGTH) throw invalidParameter('query', `the query is ${query.length} characters long, more than the ${MAX_PROMQL_LENGTH} taken`);
  return ctx.engine.promql(query);
}

/** Refuses an answer of more samples than the limit. */
function checkSamples(ctx: PrometheusContext, answer: EngineSuccess<QueryData>): void {
  const samples = samplesInText(answer.text);
  if (samples > ctx.limits.maxSamples) throw tooManySamples(ctx.limits, `the answer holds ${samples} samples`);
}

/** The engine's answer checked against the sample limit, with the namespace label taken off: as its own text when it can be. */
function answerOf(ctx: PrometheusContext, answer: EngineSuccess<QueryData>): PrometheusSuccess<QueryData> | AnswerText {
  checkSamples(ctx, answer);
  const stripped = stripNamespaceText(answer.text);
  return stripped === undefined ? { ...answer.body, data: stripQueryData(answer.body.data) } : new AnswerText(stripped);
}

/**
 * A scalar expression's instant answer as Prometheus gives it, `[time, "value"]`: the engine answers a vector of one
 * series without labels, or of none where the value is NaN (`scalar()` of no series or of several).
 */
function asScalar(data: QueryData, time: number): QueryData {
  if (data.resultType !== 'vector' || !Array.isArray(data.result) || data.result.length > 1) return data;
  const only = data.result[0] as { value: [number, string] } | undefined;
  return { resultType: 'scalar', result: only?.value ?? [time / 1000, 'NaN'] };
}

/** `/api/v1/query`: `query` evaluated at `time` (now when absent). */
export async function instantQuery(ctx: PrometheusContext, form: URLSearchParams): Promise<PrometheusSuccess<QueryData> | AnswerText> {
  const time = timeParam(form, 'time', Date.now());
  const query = queryParam(ctx, form);
  // A string literal is its own answer, as Prometheus gives it; the engine answers it with no series at all.
  if (query.string !== undefined) return { status: 'success', data: { resultType: 'string', result: [time / 1000, query.string] } };
  // nocache: with its cache on, the engine evaluates a time within -search.latencyOffset (30 s) of now 30 s earlier
  // and labels the answer with the time asked: Grafana's instant and stat panels showed data 30 s old.
  const params = new URLSearchParams({ query: query.expr, time: engineSeconds(time), nocache: '1' });
  const answer = await callEngineAnswer<QueryData>(ctx, '/api/v1/query', params, form);
  if (!query.scalar) return answerOf(ctx, answer);
  checkSamples(ctx, answer);
  return { ...answer.body, data: asScalar(stripQueryData(answer.body.data), time) };
}

/**
 * `/api/v1/query_range`: `query` evaluated from `start` to `end` every `step`, checked in Prometheus' order and
 * words; a step giving a series more than maxPoints points is refused before the engine is asked.
 */
export async function rangeQuery(ctx: PrometheusContext, form: URLSearchParams): Promise<PrometheusSuccess<QueryData> | AnswerText> {
  const start = timeParam(form, 'start');
  const end = timeParam(form, 'end');
  if (end < start) throw new PrometheusError('bad_data', 'end timestamp must not be before start time');
  const step = durationParam(form, 'step', true)!;
  if (step <= 0) throw new PrometheusError('bad_data', 'zero or negative query resolution step widths are not accepted. Try a positive integer');
  const { maxPoints } = ctx.limits;
  if (Math.floor((end - start) / step) > maxPoints) {
    throw new PrometheusError('bad_data', `exceeded maximum resolution of ${maxPoints.toLocaleString('en-US')} points per timeseries. Try decreasing the query resolution (?step=XX)`);
  }
  // The engine counts in whole milliseconds; a finer step is the shortest it takes.
  const engineStep = Math.max(1, Math.round(step));
  const query = queryParam(ctx, form);
  // Refused as Prometheus refuses them; the engine answered a string with nothing and a range vector as a matrix.
  if (query.string !== undefined || query.rangeVector) {
    throw new PrometheusError('bad_data', `invalid expression type "${query.string !== undefined ? 'string' : 'range vector'}" for range query, must be Scalar or instant Vector`);
  }
  const params = new URLSearchParams({ query: query.expr, start: engineSeconds(start), end: engineSeconds(end), step: engineSeconds(engineStep) });
  // With its cache on, the engine moves a range off the step's grid onto it: points before `start`, at other times
  // than Prometheus answers. A range on the grid (Grafana aligns its own) keeps the cache.
  if (Math.round(start) % engineStep !== 0) params.set('nocache', '1');
  return answerOf(ctx, await callEngineAnswer<QueryData>(ctx, '/api/v1/query_range', params, form));
}
