import type { Request, Response } from 'express';
import { sendProblem } from '../http/problem.ts';
import type { Authenticate } from '../http/route.ts';
import type { ApiKeyCache } from './api-key-cache.ts';
import type { Principal } from './principal.ts';
import { TokenRefused, type TokenService } from './tokens.ts';
import { isApiKey, type PgUserStore } from './user-store.ts';

/** How long a user's role and status are trusted before PostgreSQL is asked again. */
const USER_CACHE_MS = 5000;

/**
 * Finds the principal of a request from `Authorization: Bearer <token or API key>` (or `X-API-Key`).
 * A token must verify (signature, `aud`, expiry, session lifetime, not revoked: one Redis round trip), and its
 * user is re-checked in PostgreSQL (cached 5 s, and forgotten as soon as the user's tokens were revoked, so a
 * role changed by an admin never outlives the sign-in that follows it). An API key is verified by `apiKeys`
 * (held 5 s in memory, forgotten at once when revoked on any replica).
 */
export function authenticator(tokens: TokenService, users: PgUserStore, apiKeys: ApiKeyCache): Authenticate {
  const cache = new Map<string, { at: number; revokedAt: number | undefined; role: Principal['role'] | undefined }>();
  const currentRole = async (username: string, revokedAt: number | undefined) => {
    const hit = cache.get(username);
    if (hit && hit.revokedAt === revokedAt && Date.now() - hit.at < USER_CACHE_MS) return hit.role;
    const user = await users.byUsername(username);
    const role = user && !user.disabled ? user.role : undefined;
    if (cache.size > 10_000) cache.clear();
    cache.set(username, { at: Date.now(), revokedAt, role });
    return role;
  };

  return async (req: Request, res: Response) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? req.get('x-api-key');
    if (!bearer) {
      res.set('WWW-Authenticate', 'Bearer');
      sendProblem(res, 401, 'missing bearer token or API key');
      return undefined;
    }
    let principal: Principal | undefined;
    let refusal = 'invalid, expired or revoked credentials';
    if (isApiKey(bearer)) {
      const key = await apiKeys.verify(bearer);
      if (key) principal = { kind: 'api-key', subject: key.name, role: key.role, id: key.id };
    } else {
      try {
        const claims = await tokens.verify(bearer);
        const role = await currentRole(claims.subject, claims.userRevokedAt);
        if (role) principal = { kind: 'user', subject: claims.subject, role, id: claims.tokenId, expiresAt: claims.expiresAt, session: claims.session };
      } catch (err) {
        // Only a refusal is a 401; a store that does not answer is an error of the gateway.
        if (!(err instanceof TokenRefused)) throw err;
        if (err.reason === 'session-ended') refusal = err.message;
      }
    }
    if (!principal) {
      res.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      sendProblem(res, 401, refusal);
      return undefined;
    }
    res.locals.principal = principal;
    return principal;
  };
}
