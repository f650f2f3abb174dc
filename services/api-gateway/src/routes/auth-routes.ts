import { z } from 'zod';
import type { Logger } from '@terminusa/runtime';
import type { LoginGuard } from '../auth/login-guard.ts';
import { DUMMY_HASH, verifyPassword } from '../auth/password-hash.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { PgUserStore } from '../auth/user-store.ts';
import { sendProblem } from '../http/problem.ts';
import { route, type AuditSink, type RouteSpec } from '../http/route.ts';

const LoginBody = z.strictObject({ username: z.string().min(1).max(128), password: z.string().min(1).max(1024) });

/** Sign-in, refresh inside the last `refreshWindow` seconds of a token, and sign-out (revocation). */
export function authRoutes(deps: { users: PgUserStore; tokens: TokenService; guard: LoginGuard; refreshWindow: number; logger: Logger; audit: AuditSink }): RouteSpec[] {
  const tokenAnswer = (t: { token: string; expiresAt: number }) => ({ token: t.token, tokenType: 'Bearer', expiresAt: new Date(t.expiresAt * 1000).toISOString() });
  return [
    route({
      method: 'post',
      path: '/auth/login',
      access: 'public',
      tag: 'auth',
      summary: 'Exchange a username and password for a bearer token',
      body: LoginBody,
      responses: { 200: 'a token', 401: 'wrong username or password', 429: 'locked out after too many failures' },
      async handle({ body, req, res }) {
        const address = req.ip ?? '';
        const locked = await deps.guard.lockedFor(body.username, address);
        if (locked > 0) {
          deps.logger.warn('login refused during lock-out', { username: body.username, address, retryAfter: locked });
          res.set('Retry-After', String(locked));
          return sendProblem(res, 429, `too many failed logins; try again in ${locked} s`);
        }
        const user = await deps.users.credentials(body.username);
        // Hash even for an unknown user, so response time does not reveal which names exist.
        const ok = (await verifyPassword(body.password, user?.passwordHash ?? DUMMY_HASH)) && user !== undefined && !user.disabled;
        if (!ok || !user) {
          const lockout = await deps.guard.failed(body.username, address);
          deps.logger.warn('login failed', { username: body.username, address, lockedOutFor: lockout || undefined });
          await deps.audit({ actor: body.username, action: 'login-failed', target: '/auth/login', detail: {}, address, requestId: String(res.locals.requestId ?? '') });
          return sendProblem(res, 401, 'wrong username or password');
        }
        await deps.guard.succeeded(body.username);
        await deps.audit({ actor: user.username, action: 'login', target: '/auth/login', detail: { role: user.role }, address, requestId: String(res.locals.requestId ?? '') });
        res.json(tokenAnswer(await deps.tokens.issue(user.username, user.role)));
      },
    }),
    route({
      method: 'post',
      path: '/auth/refresh',
      access: 'viewer',
      tag: 'auth',
      summary: 'A new token for a valid one that is inside its last refresh window; the old one is revoked',
      responses: { 200: 'a new token', 409: 'not yet inside the refresh window' },
      async handle({ res, principal }) {
        if (principal!.kind !== 'user') return sendProblem(res, 400, 'API keys are not refreshed');
        const left = principal!.expiresAt! - Math.floor(Date.now() / 1000);
        if (left > deps.refreshWindow) return sendProblem(res, 409, `tokens are refreshed in their last ${deps.refreshWindow} s; this one has ${left} s left`);
        const fresh = await deps.tokens.issue(principal!.subject, principal!.role);
        await deps.tokens.revoke({ tokenId: principal!.id, expiresAt: principal!.expiresAt! });
        res.json(tokenAnswer(fresh));
      },
    }),
    route({
      method: 'post',
      path: '/auth/logout',
      access: 'viewer',
      tag: 'auth',
      summary: 'Revoke the token of this request',
      audit: 'logout',
      responses: { 204: 'revoked' },
      async handle({ res, principal }) {
        if (principal!.kind === 'user') await deps.tokens.revoke({ tokenId: principal!.id, expiresAt: principal!.expiresAt! });
        res.status(204).end();
      },
    }),
  ];
}
