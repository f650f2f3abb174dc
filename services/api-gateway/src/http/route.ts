import type { Request, RequestHandler, Response, Router } from 'express';
import { z } from 'zod';
import type { Principal, Role } from '../auth/principal.ts';
import { mayAccess } from '../auth/principal.ts';
import { sendProblem } from './problem.ts';
import { parseOr400 } from './request-errors.ts';

/**
 * Who may call a route: anyone, any bearer whatever its role (`signed-in`: a user's own session, which a `producer`
 * user ends or renews too), or a bearer with at least this role.
 */
export type Access = 'public' | 'signed-in' | Role;

/** One HTTP route: its method, path, access, input schemas and handler; the single place its role is declared. */
export interface RouteSpec<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express path, e.g. `/alerts/:id/ack`. */
  path: string;
  access: Access;
  tag: string;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Statuses this route answers besides the common 400/401/403/429/500. */
  responses?: Record<number, string>;
  /** Changes worth an audit record (who, when, what, from where). */
  audit?: string;
  handle(input: { params: z.infer<P>; query: z.infer<Q>; body: z.infer<B>; req: Request; res: Response; principal: Principal | undefined }): Promise<void> | void;
}

/** Defines a route with its input types inferred from its schemas. */
export function route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(spec: RouteSpec<P, Q, B>): RouteSpec {
  return spec as unknown as RouteSpec;
}

/** Returns the principal of the request, or answers 401/403 itself and returns undefined. */
export type Authenticate = (req: Request, res: Response) => Promise<Principal | undefined>;

/** Records an audited change. */
export type AuditSink = (entry: { actor: string; action: string; target: string; detail: Record<string, unknown>; address: string; requestId: string }) => Promise<void>;

/** Mounts every route on `router` with its access check and input validation in front of its handler. */
export function mountRoutes(router: Router, routes: readonly RouteSpec[], authenticate: Authenticate, audit: AuditSink): void {
  for (const spec of routes) {
    const handler: RequestHandler = async (req, res) => {
      let principal: Principal | undefined;
      if (spec.access !== 'public') {
        principal = await authenticate(req, res);
        if (!principal) return;
        if (spec.access !== 'signed-in' && !mayAccess(principal.role, spec.access)) return sendProblem(res, 403, `this needs the ${spec.access} role; you have ${principal.role}`);
      }
      const params = parseOr400(spec.params ?? z.any(), req.params, res, 'path');
      if (params === undefined && spec.params) return;
      const query = parseOr400(spec.query ?? z.any(), req.query, res, 'query');
      if (query === undefined && spec.query) return;
      const body = parseOr400(spec.body ?? z.any(), req.body ?? {}, res, 'body');
      if (body === undefined && spec.body) return;
      await spec.handle({ params, query, body, req, res, principal });
      if (spec.audit && principal && res.statusCode < 400) {
        await audit({
          actor: principal.subject,
          action: spec.audit,
          target: req.originalUrl.split('?')[0]!,
          detail: { method: spec.method.toUpperCase(), status: res.statusCode, ...(req.params ?? {}) },
          address: req.ip ?? '',
          requestId: String(res.locals.requestId ?? ''),
        });
      }
    };
    router[spec.method](spec.path, handler);
  }
}
