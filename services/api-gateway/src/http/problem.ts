import type { Response } from 'express';

/** A field that is wrong, named as `samples[3].value`. */
export interface FieldProblem {
  field: string;
  reason: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Answers with an RFC 9457 problem document: status, title, detail, and the wrong fields when there are any. */
export function sendProblem(res: Response, status: number, detail: string, extra: { fields?: FieldProblem[]; [key: string]: unknown } = {}): void {
  res
    .status(status)
    .type('application/problem+json')
    .json({ type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, instance: res.req.originalUrl.split('?')[0], ...extra });
}
