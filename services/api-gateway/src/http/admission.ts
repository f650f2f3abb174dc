import type { RequestHandler, Response } from 'express';
import type { ApiKeyCache } from '../auth/api-key-cache.ts';
import { principalIdOf, readCredential, type Credential } from '../auth/authenticate.ts';
import { addressKey } from '../auth/login-guard.ts';
import type { RevocationMarks, TokenService } from '../auth/tokens.ts';
import { countedByBacklog, pushBackStatus, type RateLimit, type RateLimitVerdict } from './rate-limit.ts';

/** What the admission learnt of a request, for its authentication. */
export interface Admission {
  credential: Credential;
  /** The per-principal count, taken when memory verified the credential. */
  principal?: RateLimitVerdict;
  /** A token's revocation marks, read beside the counts. */
  marks?: RevocationMarks;
}

/**
 * The limits every request but `/health` passes before the gateway parses its body or asks a database anything:
 * the client address's count (429 when over, 503 on remote_write: {@link pushBackStatus}), and beside it, in the
 * same Redis round trip if any, the principal's count and a token's revocation marks when memory alone verified the
 * credential (a token's signature, an API key the cache holds). The counts are mostly spent from leases held in
 * memory (rate-limit.ts), so an API key's request usually needs no round trip at all: on this 2-core machine each
 * costs about 0.5 ms of waking processes when requests come a few ms apart.
 * The principal's verdict is applied only once the credential authenticated, so a refused one still gets its 401.
 * A push of samples by an API key memory verified, of a role that may push, is not counted: the pipeline's backlog
 * slows it down.
 */
export function admission(deps: { tokens: TokenService; apiKeys: ApiKeyCache; perAddress: RateLimit; perPrincipal: RateLimit }): RequestHandler {
  return async (req, res, next) => {
    if (req.path === '/health') return next();
    try {
      const credential = await readCredential(req, deps.tokens, deps.apiKeys);
      if (credential.kind === 'api-key' && countedByBacklog(req.path, credential.key.role)) {
        res.locals.admission = { credential } satisfies Admission;
        return next();
      }
      const id = principalIdOf(credential);
      const [address, principal, marks] = await Promise.all([
        // Counted as the login guard and the live stream count a client: an IPv6 host by its /64.
        deps.perAddress.consume(addressKey(req.ip ?? '')),
        id === undefined ? undefined : deps.perPrincipal.consume(id),
        credential.kind === 'token' ? deps.tokens.revocationMarks(credential.signed) : undefined,
      ]);
      if (!deps.perAddress.admit(res, address, pushBackStatus(req.path))) return;
      res.locals.admission = { credential, principal, marks } satisfies Admission;
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** What {@link admission} learnt of the request answered by `res`. */
export function admissionOf(res: Response): Admission {
  const admitted = res.locals.admission as Admission | undefined;
  if (!admitted) throw new Error('the request did not pass the admission');
  return admitted;
}
