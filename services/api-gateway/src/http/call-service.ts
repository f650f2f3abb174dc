import type { Response } from 'express';
import CircuitBreaker from 'opossum';
import { ErrorCode, type NatsError } from 'nats';
import type { z } from 'zod';
import type { Bus, CallDef } from '@terminusa/bus';
import { sendProblem } from './problem.ts';

/**
 * Calls services behind the gateway over NATS, each call bounded by a timeout and each service behind an
 * opossum circuit breaker: a service that is down answers 503 at once, one that does not answer in time 504,
 * never a hang. Replies of the form `{error, code}` become 404 (`missing-*`), 400 (`bad-request`), 422 or 500.
 */
export class ServiceCaller {
  private readonly breakers = new Map<string, CircuitBreaker<[CallDef<z.ZodType, z.ZodType>, unknown], unknown>>();

  constructor(
    private readonly bus: Bus,
    private readonly timeoutMs: number,
  ) {}

  private breaker(service: string) {
    let b = this.breakers.get(service);
    if (!b) {
      b = new CircuitBreaker((def: CallDef<z.ZodType, z.ZodType>, payload: unknown) => this.bus.call(def, payload, this.timeoutMs), {
        timeout: false,
        errorThresholdPercentage: 50,
        volumeThreshold: 5,
        resetTimeout: 10_000,
        // A refusal by the service is an answer, not a failure of the service.
        errorFilter: (err: NatsError) => err.code !== ErrorCode.NoResponders && err.code !== ErrorCode.Timeout,
      });
      this.breakers.set(service, b);
    }
    return b;
  }

  /** Calls `service` and answers the HTTP request with its reply (or the right problem). */
  async answer<Req extends z.ZodType, Rep extends z.ZodType>(res: Response, service: string, def: CallDef<Req, Rep>, payload: z.input<Req>, okStatus = 200): Promise<void> {
    let reply: unknown;
    try {
      reply = await this.breaker(service).fire(def as unknown as CallDef<z.ZodType, z.ZodType>, payload);
    } catch (err) {
      const code = (err as NatsError).code;
      if (code === ErrorCode.NoResponders) return sendProblem(res, 503, `the ${service} service is not running`);
      if (code === ErrorCode.Timeout) return sendProblem(res, 504, `the ${service} service did not answer within ${this.timeoutMs} ms`);
      if ((err as { code?: string }).code === 'EOPENBREAKER') return sendProblem(res, 503, `the ${service} service is failing; calls are paused for a few seconds`);
      throw err;
    }
    if (reply && typeof reply === 'object' && 'error' in reply) {
      const { error, code } = reply as { error: string; code?: string };
      const status = code === 'bad-request' ? 400 : code?.startsWith('missing') ? 404 : code && code !== 'failed' ? 422 : 500;
      return sendProblem(res, status, error, code ? { code } : {});
    }
    res.status(okStatus).json(reply);
  }
}
