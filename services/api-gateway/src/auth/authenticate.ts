import type { Request, Response } from 'express';
import { sendProblem } from '../http/problem.ts';
import type { ApiKeyCache, VerifiedApiKey } from './api-key-cache.ts';
import type { Principal } from './principal.ts';
import { TokenRefused, type RevocationMarks, type SignedToken, type TokenService } from './tokens.ts';
import { isApiKey, type PgUserStore } from './user-store.ts';

/** How long a user's role and status are trusted before PostgreSQL is asked again. */
const USER_CACHE_MS = 5000;
/** What a refused credential is told: no hint which check it failed. */
const REFUSED = 'invalid, expired or revoked credentials';

/**
 * A request's credential as far as memory tells, before any round trip: a token whose signature and session
 * verified (its revocation still to check), an API key the cache holds, one only PostgreSQL can tell, or a refusal.
 */
export type Credential =
  | { kind: 'none' }
  | { kind: 'refused'; message: string }
  | { kind: 'token'; signed: SignedToken }
  | { kind: 'api-key'; key: VerifiedApiKey }
  | { kind: 'api-key-to-check'; presented: string };

/** The bearer of `Authorization: Bearer <token or API key>` (or `X-API-Key`), checked as far as memory can. */
export async function readCredential(req: Request, tokens: TokenService, apiKeys: ApiKeyCache): Promise<Credential> {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? req.get('x-api-key');
  if (!bearer) return { kind: 'none' };
  if (isApiKey(bearer)) {
    const held = apiKeys.held(bearer);
    if (held === 'ask') return { kind: 'api-key-to-check', presented: bearer };
    return held ? { kind: 'api-key', key: held } : { kind: 'refused', message: REFUSED };
  }
  try {
    return { kind: 'token', signed: await tokens.verifySignature(bearer) };
  } catch (err) {
    if (!(err instanceof TokenRefused)) throw err;
    return { kind: 'refused', message: err.reason === 'session-ended' ? err.message : REFUSED };
  }
}

/** The id the per-principal rate limit counts, when memory verified the credential (a token's `jti`, an API key's id). */
export function principalIdOf(credential: Credential): string | undefined {
  return credential.kind === 'token' ? credential.signed.tokenId : credential.kind === 'api-key' ? credential.key.id : undefined;
}

/** Finishes authenticating a request from its {@link Credential}; answers 401 itself and returns undefined when refused. */
export type Identify = (req: Request, res: Response, credential: Credential, marks?: RevocationMarks) => Promise<Principal | undefined>;

/**
 * Finds the principal of a request from its credential. A token must verify (signature, `aud`, expiry, session
 * lifetime: {@link readCredential}) and not be revoked (`marks`, read beside the rate limits, or one Redis round trip
 * here), and its user is re-checked in PostgreSQL (cached 5 s, and forgotten as soon as the user's tokens were
 * revoked, so a role changed by an admin never outlives the sign-in that follows it). An API key is verified by
 * `apiKeys` (held 5 s in memory, forgotten at once when revoked on any replica; PostgreSQL asked otherwise).
 */
export function authenticator(tokens: TokenService, users: PgUserStore, apiKeys: ApiKeyCache): Identify {
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

  const principalOf = async (credential: Credential, marks: RevocationMarks | undefined): Promise<Principal | string> => {
    switch (credential.kind) {
      case 'none':
        return 'missing bearer token or API key';
      case 'refused':
        return credential.message;
      case 'api-key':
      case 'api-key-to-check': {
        const key = credential.kind === 'api-key' ? credential.key : await apiKeys.verify(credential.presented);
        return key ? { kind: 'api-key', subject: key.name, role: key.role, id: key.id } : REFUSED;
      }
      case 'token': {
        const { signed } = credential;
        let claims;
        try {
          claims = tokens.unrevoked(signed, marks ?? (await tokens.revocationMarks(signed)));
        } catch (err) {
          if (!(err instanceof TokenRefused)) throw err;
          return REFUSED;
        }
        const role = await currentRole(claims.subject, claims.userRevokedAt);
        return role ? { kind: 'user', subject: claims.subject, role, id: claims.tokenId, expiresAt: claims.expiresAt, session: claims.session } : REFUSED;
      }
    }
  };

  return async (_req, res, credential, marks) => {
    const principal = await principalOf(credential, marks);
    if (typeof principal === 'string') {
      res.set('WWW-Authenticate', credential.kind === 'none' ? 'Bearer' : 'Bearer error="invalid_token"');
      sendProblem(res, 401, principal);
      return undefined;
    }
    res.locals.principal = principal;
    return principal;
  };
}
