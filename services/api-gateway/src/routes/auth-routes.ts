import { z } from 'zod';
import { storableText } from '@terminusa/bus';
import type { Logger } from '@terminusa/runtime';
import type { LoginGuard } from '../auth/login-guard.ts';
import { DUMMY_HASH, needsRehash, verifyPassword } from '../auth/password-hash.ts';
import { TokenRefused, type IssuedToken, type TokenService } from '../auth/tokens.ts';
import type { PgUserStore } from '../auth/user-store.ts';
import { sendProblem } from '../http/problem.ts';
import { route, type AuditSink, type RouteSpec } from '../http/route.ts';

// The typed name goes to PostgreSQL and Redis as it is: a NUL in it made the public sign-in answer 500.
const LoginBody = z.strictObject({ username: storableText(128, 'usernames').min(1), password: z.string().min(1).max(1024) });
const PasswordChangeBody = z.strictObject({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(12, 'at least 12 characters').max(1024) });

const isoOf = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

/**
 * Sign-in, refresh inside the last `refreshWindow` seconds of a token (never past the session's end,
 * auth.sessionLifetime after sign-in), sign-out (every token of the user) and a user's own password change.
 */
export function authRoutes(deps: { users: PgUserStore; tokens: TokenService; guard: LoginGuard; refreshWindow: number; logger: Logger; audit: AuditSink }): RouteSpec[] {
  const tokenAnswer = (t: IssuedToken) => ({ token: t.token, tokenType: 'Bearer', expiresAt: isoOf(t.expiresAt), sessionExpiresAt: isoOf(t.session.endsAt) });
  return [
    route({
      method: 'post',
      path: '/auth/login',
      access: 'public',
      tag: 'auth',
      summary: 'Exchange a username and password for a bearer token',
      body: LoginBody,
      responses: { 200: 'a token', 401: 'wrong username or password', 429: 'locked out after too many failures for this user from this address, or from this address' },
      async handle({ body, req, res }) {
        const address = req.ip ?? '';
        const requestId = String(res.locals.requestId ?? '');
        // The typed name is logged only as a salted hash: it is sometimes a password typed into the wrong field.
        const user = await deps.guard.digest(body.username);
        // Counted before the hash is checked, in one step with the lock check: parallel guesses get no more tries.
        const attempt = await deps.guard.reserve(body.username, address);
        if (!attempt.allowed) {
          deps.logger.warn('login refused during lock-out', { user, address, scope: attempt.scope, retryAfter: attempt.retryAfter });
          res.set('Retry-After', String(attempt.retryAfter));
          const whose = attempt.scope === 'address' ? 'from this address' : 'for this user from this address';
          return sendProblem(res, 429, `too many failed logins ${whose}; try again in ${attempt.retryAfter} s`);
        }
        let account: Awaited<ReturnType<PgUserStore['credentials']>>;
        let ok: boolean;
        let markSeen: string;
        try {
          // Before the account is read: a token is issued only if no revocation (a password reset, a role change)
          // came between this read and the token.
          markSeen = await deps.tokens.signInMark(body.username);
          account = await deps.users.credentials(body.username);
          // Hash even for an unknown user, so response time does not reveal which names exist.
          ok = (await verifyPassword(body.password, account?.passwordHash ?? DUMMY_HASH)) && account !== undefined && !account.disabled;
        } catch (err) {
          // No answer about the password was given: the attempt does not count.
          await deps.guard.abandoned(attempt).catch(() => undefined);
          throw err;
        }
        if (!ok || !account) {
          deps.logger.warn('login failed', { user, address, known: account !== undefined, lockedOut: attempt.last || undefined });
          // The audit log names an existing account; a name that matches none is kept only as its hash.
          await deps.audit({ actor: account?.username ?? `unknown-user:${user}`, action: 'login-failed', target: '/auth/login', detail: {}, address, requestId });
          return sendProblem(res, 401, 'wrong username or password');
        }
        await deps.guard.succeeded(attempt);
        // A hash stored at an older, weaker setting is replaced while the password is at hand, unless it changed since.
        if (needsRehash(account.passwordHash)) await deps.users.rehash(account.id, account.passwordHash, body.password);
        let issued: IssuedToken;
        try {
          issued = await deps.tokens.issue(account.username, account.role, undefined, markSeen);
        } catch (err) {
          if (!(err instanceof TokenRefused)) throw err;
          return sendProblem(res, 401, err.message);
        }
        await deps.audit({ actor: account.username, action: 'login', target: '/auth/login', detail: { role: account.role }, address, requestId });
        res.json(tokenAnswer(issued));
      },
    }),
    route({
      method: 'post',
      path: '/auth/refresh',
      access: 'signed-in',
      tag: 'auth',
      summary: "A new token of the same session for a valid one inside its last refresh window, never past the session's end; the old one is revoked",
      responses: {
        200: 'a new token',
        401: 'the session ended (auth.sessionLifetime after sign-in): sign in again',
        409: "not yet inside the refresh window, or the token lasts until the session's end already",
      },
      async handle({ res, principal }) {
        const { kind, subject, role, id, expiresAt, session } = principal!;
        if (kind !== 'user' || expiresAt === undefined || !session) return sendProblem(res, 400, 'API keys are not refreshed');
        const left = expiresAt - Math.floor(Date.now() / 1000);
        if (left > deps.refreshWindow) return sendProblem(res, 409, `tokens are refreshed in their last ${deps.refreshWindow} s; this one has ${left} s left`);
        // A refresh moves the token's end, never the session's: the absolute lifetime counts from the sign-in.
        if (session.endsAt <= expiresAt) {
          return sendProblem(res, 409, `this token lasts until its session ends (${isoOf(session.endsAt)}, auth.sessionLifetime after sign-in) and cannot be refreshed further; sign in again before then`);
        }
        const fresh = await deps.tokens.issue(subject, role, session);
        await deps.tokens.revoke({ tokenId: id, expiresAt });
        res.json(tokenAnswer(fresh));
      },
    }),
    route({
      method: 'post',
      path: '/auth/logout',
      access: 'signed-in',
      tag: 'auth',
      summary: "Sign out everywhere: revoke every token of this request's user (its live streams close); nothing for an API key",
      audit: 'logout',
      responses: { 204: 'revoked' },
      async handle({ res, principal }) {
        if (principal!.kind === 'user') await deps.tokens.revokeUser(principal!.subject);
        res.status(204).end();
      },
    }),
    route({
      method: 'post',
      path: '/auth/password',
      access: 'signed-in',
      tag: 'auth',
      summary: "Change one's own password: every token of the user is revoked, and the answer is a token of a new session",
      audit: 'password-change',
      body: PasswordChangeBody,
      responses: { 200: 'changed; a new token', 400: 'an API key has no password', 403: 'the current password is wrong', 429: 'too many wrong current passwords: the sign-in lock-out' },
      async handle({ body, req, res, principal }) {
        if (principal!.kind !== 'user') return sendProblem(res, 400, 'API keys have no password');
        // Counted as sign-ins are: a stolen token must not become a way to guess the password behind it.
        const attempt = await deps.guard.reserve(principal!.subject, req.ip ?? '');
        if (!attempt.allowed) {
          res.set('Retry-After', String(attempt.retryAfter));
          return sendProblem(res, 429, `too many wrong passwords; try again in ${attempt.retryAfter} s`);
        }
        let account: Awaited<ReturnType<PgUserStore['credentials']>>;
        let ok: boolean;
        try {
          account = await deps.users.credentials(principal!.subject);
          ok = account !== undefined && !account.disabled && (await verifyPassword(body.currentPassword, account.passwordHash));
        } catch (err) {
          await deps.guard.abandoned(attempt).catch(() => undefined);
          throw err;
        }
        if (!ok || !account) {
          deps.logger.warn('password change refused: wrong current password', { username: principal!.subject, lockedOut: attempt.last || undefined });
          return sendProblem(res, 403, 'the current password is wrong');
        }
        await deps.guard.succeeded(attempt);
        // Sessions end before the password changes, so no failure in between leaves the new password with the old
        // sessions, and again after it, for a sign-in with the old password in between.
        await deps.tokens.revokeUser(account.username);
        await deps.users.update(account.id, { password: body.newPassword });
        await deps.tokens.revokeUser(account.username);
        // Issued after the revocation: the caller stays signed in, every other session of the user ends.
        res.json(tokenAnswer(await deps.tokens.issue(account.username, account.role)));
      },
    }),
  ];
}
