import { callEngine, type PrometheusContext, type PrometheusSuccess } from './call-engine.ts';
import { PrometheusError } from './prometheus-errors.ts';
import { engineSeconds, limitParam, openTimeParam } from './prometheus-params.ts';
import { isNamespaceLabel, stripLabelNames, withoutNamespace, type Labels } from './strip-namespace.ts';

/** A label name as Prometheus takes it in `/api/v1/label/<name>/values`. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The engine's parameters of a metadata call: the selectors and the time range, when given. */
function selectorParams(form: URLSearchParams): URLSearchParams {
  const params = new URLSearchParams();
  for (const match of form.getAll('match[]')) params.append('match[]', match);
  for (const name of ['start', 'end']) {
    const ms = openTimeParam(form, name);
    if (ms !== undefined) params.set(name, engineSeconds(ms));
  }
  return params;
}

/** `body` cut to `limit` items, with Prometheus' warning when it was cut (the engine takes no limit). */
function limited<T>(body: PrometheusSuccess<T[]>, limit: number | undefined): PrometheusSuccess<T[]> {
  if (limit === undefined || body.data.length <= limit) return body;
  return { ...body, data: body.data.slice(0, limit), warnings: [...(body.warnings ?? []), 'results truncated due to limit'] };
}

/** `/api/v1/series`: the label sets of the series matching any `match[]`. */
export async function seriesQuery(ctx: PrometheusContext, form: URLSearchParams): Promise<PrometheusSuccess<Labels[]>> {
  if (form.getAll('match[]').length === 0) throw new PrometheusError('bad_data', 'no match[] parameter provided');
  const params = selectorParams(form);
  const limit = limitParam(form);
  const body = await callEngine<Labels[]>(ctx, '/api/v1/series', params, form, 'match[]');
  return limited({ ...body, data: body.data.map(withoutNamespace) }, limit);
}

/** `/api/v1/labels`: the label names of the series matching `match[]` (every series without it). */
export async function labelNames(ctx: PrometheusContext, form: URLSearchParams): Promise<PrometheusSuccess<string[]>> {
  const params = selectorParams(form);
  const limit = limitParam(form);
  const body = await callEngine<string[]>(ctx, '/api/v1/labels', params, form, 'match[]');
  return limited({ ...body, data: stripLabelNames(body.data) }, limit);
}

/** `/api/v1/label/<name>/values`: the values of one label; none for the namespace label, which callers never see. */
export async function labelValues(ctx: PrometheusContext, name: string, form: URLSearchParams): Promise<PrometheusSuccess<string[]>> {
  if (!LABEL_NAME.test(name)) throw new PrometheusError('bad_data', `invalid label name: ${JSON.stringify(name)}`);
  const params = selectorParams(form);
  const limit = limitParam(form);
  if (isNamespaceLabel(name)) return { status: 'success', data: [] };
  return limited(await callEngine<string[]>(ctx, `/api/v1/label/${name}/values`, params, form, 'match[]'), limit);
}

/** `/api/v1/metadata`: the engine's metric metadata, or none when it keeps none (a single node answers `{}`). */
export async function metricMetadata(ctx: PrometheusContext, form: URLSearchParams): Promise<PrometheusSuccess<unknown>> {
  const params = new URLSearchParams();
  for (const name of ['limit', 'limit_per_metric']) {
    // Prometheus' words; checked here because the engine's refusal of them reads as "no metadata" below.
    if (form.get(name) && !/^-?\d+$/.test(form.get(name)!)) throw new PrometheusError('bad_data', `${name} must be a number`);
  }
  for (const name of ['metric', 'limit', 'limit_per_metric']) if (form.get(name)) params.set(name, form.get(name)!);
  try {
    return await callEngine<unknown>(ctx, '/api/v1/metadata', params, form);
  } catch (err) {
    // An engine without the endpoint answers 400 or 404: it has no metadata to give.
    if (err instanceof PrometheusError && (err.errorType === 'execution' || err.errorType === 'bad_data')) return { status: 'success', data: {} };
    throw err;
  }
}
