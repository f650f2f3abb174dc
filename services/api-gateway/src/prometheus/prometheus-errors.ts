import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { Logger } from '@terminusa/runtime';
import { scrubNamespace } from './strip-namespace.ts';

/** Prometheus' error types, each with the status Prometheus answers it with. */
export const ERROR_STATUS = { bad_data: 400, execution: 422, timeout: 503, unavailable: 503 } as const;
/** One of Prometheus' error types. */
export type ErrorType = keyof typeof ERROR_STATUS;

/** A failure answered in Prometheus' error shape rather than as a problem document. */
export class PrometheusError extends Error {
  constructor(
    readonly errorType: ErrorType,
    message: string,
  ) {
    super(message);
    this.name = 'PrometheusError';
  }
}

/** A wrong request parameter, worded as Prometheus words it: `invalid parameter "time": …`. */
export function invalidParameter(name: string, reason: string): PrometheusError {
  return new PrometheusError('bad_data', `invalid parameter ${JSON.stringify(name)}: ${reason}`);
}

/** Answers `{"status":"error","errorType":…,"error":…}` with the status of its type. */
export function sendPrometheusError(res: Response, err: PrometheusError): void {
  res.status(ERROR_STATUS[err.errorType]).json({ status: 'error', errorType: err.errorType, error: err.message });
}

/** What the engine's MetricsQL parser says of an expression it cannot read (every such error is a 422 from the engine). */
const PARSE_ERROR = /unparsed data|cannot recognize|cannot find the first token|cannot expand WITH|unexpected number of args|unknown func|unsupported function/;
/** The engine's preamble to a query's error, which repeats the query and its times. */
const QUERY_PREAMBLE = /^error when executing query="(?:[^"\\]|\\.)*" (?:for|on the time range) \([^)]*\): /;

/**
 * The engine's failure in Prometheus' terms. The engine answers every failure of a query with 422, so a parse error
 * (bad_data in Prometheus, blamed on `param`) is told from an evaluation error by the parser's words; an overloaded
 * or failing engine is `unavailable`.
 */
export function engineFailure(status: number, body: unknown, param = 'query'): PrometheusError {
  const said = (body as { error?: unknown } | undefined)?.error;
  const message = scrubNamespace((typeof said === 'string' ? said : typeof body === 'string' ? body.trim() : JSON.stringify(body)).replace(QUERY_PREAMBLE, ''));
  if (status >= 500 || status === 429) return new PrometheusError('unavailable', `the engine cannot answer (${status}): ${message}`);
  if (/timeout exceeded|deadline exceeded/i.test(message)) return new PrometheusError('timeout', message);
  // A 400 is the engine refusing the request's own parameters (a selector it cannot read), whatever its words.
  if (status === 400 || PARSE_ERROR.test(message)) return invalidParameter(param, message);
  return new PrometheusError('execution', message);
}

/**
 * What the Prometheus paths (`/api/v1/…`) answer where no handler of theirs did, in Prometheus' error shape, which
 * its clients (Grafana) read where a problem document means nothing to them: an endpoint the gateway does not serve
 * (404 not_found), a request body the parsers refused (bad_data, with the parser's status) and a fault (500 internal,
 * logged, its text kept from the client).
 */
export function prometheusFallbacks(logger: Pick<Logger, 'error'>): { notFound: RequestHandler; failed: ErrorRequestHandler } {
  const send = (res: Response, status: number, errorType: string, error: string) => void res.status(status).json({ status: 'error', errorType, error });
  return {
    notFound: (req, res) => send(res, 404, 'not_found', `no endpoint ${req.method} ${req.originalUrl.split('?')[0]}`),
    failed: (err: { status?: number; message?: string }, req, res, _next) => {
      if (err.status && err.status >= 400 && err.status < 500) return send(res, err.status, 'bad_data', err.message ?? 'bad request');
      logger.error('request failed', { err, method: req.method, path: req.path, requestId: res.locals.requestId });
      send(res, 500, 'internal', 'internal error');
    },
  };
}
