import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
import { describeIssues } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import { sendProblem } from './problem.ts';

/** Validates request input; answers 400 naming every wrong field and returns undefined when it is invalid. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown, res: Response, where?: string): z.infer<S> | undefined {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = describeIssues(result.error);
  sendProblem(res, 400, `invalid ${where ?? 'request'}: ${fields.map((f) => `${f.field}: ${f.reason}`).join('; ')}`, { fields });
  return undefined;
}

/** Turns body-parser and unexpected errors into problem documents; never leaks a stack trace to the client. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: { type?: string; status?: number; message?: string }, req, res, _next) => {
    if (err.type === 'entity.too.large') return sendProblem(res, 413, 'request body too large', { fields: [{ field: '(body)', reason: err.message ?? 'too large' }] });
    if (err.type === 'entity.parse.failed') return sendProblem(res, 400, 'malformed JSON', { fields: [{ field: '(body)', reason: err.message ?? 'malformed' }] });
    if (err.status && err.status >= 400 && err.status < 500) return sendProblem(res, err.status, err.message ?? 'bad request');
    logger.error('request failed', { err, method: req.method, path: req.path, requestId: res.locals.requestId });
    sendProblem(res, 500, 'internal error');
  };
}
