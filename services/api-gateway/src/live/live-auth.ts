import type { IncomingMessage } from 'node:http';
import { mayAccess, type Principal } from '../auth/principal.ts';
import { TokenRefused, type TokenService } from '../auth/tokens.ts';
import { isApiKey, type PgUserStore } from '../auth/user-store.ts';
import { BEARER_SUBPROTOCOL_PREFIX } from './live-protocol.ts';

/** Resolves a presented token or API key to its principal; undefined when it is invalid, expired, revoked or its user disabled. */
export type LiveAuthenticate = (credential: string) => Promise<Principal | undefined>;

/**
 * The live stream's check of a credential, the same as the HTTP API's: a `tmk_` key must be live, a token valid,
 * unrevoked and of a live session, and its user enabled (the role comes from the user). It runs when a
 * connection authenticates and again on every revocation event and re-check, so a connection lasts only as long
 * as its credential. A failing store rejects, so the caller can tell "try again" from "not allowed"; a token
 * that does not verify is refused whatever the reason, as on the HTTP API.
 */
export function liveAuthenticator(tokens: TokenService, users: PgUserStore): LiveAuthenticate {
  const principalOf = async (credential: string): Promise<Principal | undefined> => {
    if (isApiKey(credential)) {
      const key = await users.verifyApiKey(credential);
      return key && { kind: 'api-key', subject: key.name, role: key.role, id: key.id };
    }
    let claims: Awaited<ReturnType<TokenService['verify']>>;
    try {
      claims = await tokens.verify(credential);
    } catch (err) {
      if (err instanceof TokenRefused) return undefined;
      throw err;
    }
    const user = await users.byUsername(claims.subject);
    if (!user || user.disabled) return undefined;
    return { kind: 'user', subject: claims.subject, role: user.role, id: claims.tokenId, expiresAt: claims.expiresAt, session: claims.session };
  };
  // The stream is a read: a producer's credential is refused like an invalid one.
  return async (credential) => {
    const principal = await principalOf(credential);
    return principal && mayAccess(principal.role, 'viewer') ? principal : undefined;
  };
}

/**
 * A credential presented during the upgrade in a `bearer.<token>` subprotocol (browsers cannot set headers on a
 * WebSocket); undefined when the client will authenticate with its first message. A credential in the URL
 * (`?token=`) is not taken: URLs end up in proxy and access logs.
 */
export function upgradeCredential(req: IncomingMessage): string | undefined {
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX) && p.length > BEARER_SUBPROTOCOL_PREFIX.length)?.slice(BEARER_SUBPROTOCOL_PREFIX.length);
}

/** Whether the upgrade's URL carries a credential (`token`, `access_token` or `api_key`), which the stream refuses. */
export function credentialInUrl(req: IncomingMessage): boolean {
  const params = new URL(req.url ?? '/', 'http://gateway').searchParams;
  return ['token', 'access_token', 'api_key'].some((name) => params.has(name));
}

/** The key connections of one principal are counted under: a user (all its tokens) or an API key. */
export function principalKey(principal: Principal): string {
  return principal.kind === 'user' ? `user:${principal.subject}` : `api-key:${principal.id}`;
}
