import type { ErrorRequestHandler, Response } from 'express';
import type { z } from 'zod';
import { describeIssues } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';

/** Validates request input; answers 400 naming every wrong field and returns undefined when it is invalid. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown, res: Response): z.infer<S> | undefined {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  res.status(400).json({ error: 'invalid request', fields: describeIssues(result.error) });
  return undefined;
}

/** Turns body-parser and unexpected errors into JSON answers; never leaks a stack trace to the client. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: { type?: string; status?: number; message?: string }, req, res, _next) => {
    if (err.type === 'entity.too.large') return void res.status(413).json({ error: 'request body too large', fields: [{ field: '(body)', reason: err.message }] });
    if (err.type === 'entity.parse.failed') return void res.status(400).json({ error: 'malformed JSON', fields: [{ field: '(body)', reason: err.message }] });
    if (err.status && err.status >= 400 && err.status < 500) return void res.status(err.status).json({ error: err.message });
    logger.error('request failed', { err, method: req.method, path: req.path });
    res.status(500).json({ error: 'internal error' });
  };
}
