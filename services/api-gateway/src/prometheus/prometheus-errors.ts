import type { Response } from 'express';
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
  if (PARSE_ERROR.test(message)) return invalidParameter(param, message);
  return new PrometheusError('execution', message);
}
