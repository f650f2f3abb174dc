import type { Response } from 'express';
import { ErrorCode, type NatsError } from 'nats';
import type { z } from 'zod';
import type { Bus, CallDef } from '@terminusa/bus';

/**
 * Calls a service over NATS and answers the HTTP request with its reply; a service that is down is a 503
 * and one that does not answer in time a 504, never a hang. Replies of the form `{error, code}` become
 * 404 (`missing-backup`), 400 (`bad-request`), 422 (a refusal) or 500.
 */
export async function callService<Req extends z.ZodType, Rep extends z.ZodType>(
  bus: Bus,
  def: CallDef<Req, Rep>,
  payload: z.input<Req>,
  timeoutMs: number,
  res: Response,
  service: string,
  okStatus = 200,
): Promise<void> {
  let reply: unknown;
  try {
    reply = await bus.call(def, payload, timeoutMs);
  } catch (err) {
    const code = (err as NatsError).code;
    if (code === ErrorCode.NoResponders) return void res.status(503).json({ error: `the ${service} service is not running` });
    if (code === ErrorCode.Timeout) return void res.status(504).json({ error: `the ${service} service did not answer within ${timeoutMs} ms` });
    throw err;
  }
  if (reply && typeof reply === 'object' && 'error' in reply) {
    const { error, code } = reply as { error: string; code?: string };
    const status = code === 'bad-request' ? 400 : code?.startsWith('missing') ? 404 : code && code !== 'failed' ? 422 : 500;
    return void res.status(status).json({ error, ...(code ? { code } : {}) });
  }
  res.status(okStatus).json(reply);
}
