import type { Request, Response } from 'express';
import { sendProblem } from '../http/problem.ts';
import type { Authenticate } from '../http/route.ts';
import type { Principal } from './principal.ts';
import type { TokenService } from './tokens.ts';
import { isApiKey, type PgUserStore } from './user-store.ts';

/** How long a user's role and status are trusted before PostgreSQL is asked again. */
const USER_CACHE_MS = 5000;

/**
 * Finds the principal of a request from `Authorization: Bearer <token or API key>` (or `X-API-Key`).
 * A token's user is re-checked (disabled users and changed roles take effect within seconds).
 */
export function authenticator(tokens: TokenService, users: PgUserStore): Authenticate {
  const cache = new Map<string, { at: number; role: Principal['role'] | undefined }>();
  const currentRole = async (username: string) => {
    const hit = cache.get(username);
    if (hit && Date.now() - hit.at < USER_CACHE_MS) return hit.role;
    const user = await users.byUsername(username);
    const role = user && !user.disabled ? user.role : undefined;
    cache.set(username, { at: Date.now(), role });
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
    if (isApiKey(bearer)) {
      const key = await users.verifyApiKey(bearer);
      if (key) principal = { kind: 'api-key', subject: key.name, role: key.role, id: key.id };
    } else {
      try {
        const claims = await tokens.verify(bearer);
        const role = await currentRole(claims.subject);
        if (role) principal = { kind: 'user', subject: claims.subject, role, id: claims.tokenId, expiresAt: claims.expiresAt };
      } catch {
        principal = undefined;
      }
    }
    if (!principal) {
      res.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      sendProblem(res, 401, 'invalid, expired or revoked credentials');
      return undefined;
    }
    res.locals.principal = principal;
    return principal;
  };
}
