import type { IncomingMessage } from 'node:http';
import { mayAccess, type Principal } from '../auth/principal.ts';
import type { TokenService } from '../auth/tokens.ts';
import { isApiKey, type PgUserStore } from '../auth/user-store.ts';
import { BEARER_SUBPROTOCOL_PREFIX } from './live-protocol.ts';

/** Resolves a presented token or API key to its principal; undefined when it is invalid, expired, revoked or its user disabled. */
export type LiveAuthenticate = (credential: string) => Promise<Principal | undefined>;

/**
 * The live stream's check of a credential, the same as the HTTP API's: a `tmk_` key must be live, a token valid and
 * unrevoked, and its user enabled (the role comes from the user, so a changed role applies to new connections).
 * A failing user store rejects, so the caller can tell "try again" from "not allowed"; a token that does not verify
 * is refused whatever the reason, as on the HTTP API.
 */
export function liveAuthenticator(tokens: TokenService, users: PgUserStore): LiveAuthenticate {
  const principalOf = async (credential: string): Promise<Principal | undefined> => {
    if (isApiKey(credential)) {
      const key = await users.verifyApiKey(credential);
      return key && { kind: 'api-key', subject: key.name, role: key.role, id: key.id };
    }
    const claims = await tokens.verify(credential).catch(() => undefined);
    if (!claims) return undefined;
    const user = await users.byUsername(claims.subject);
    if (!user || user.disabled) return undefined;
    return { kind: 'user', subject: claims.subject, role: user.role, id: claims.tokenId, expiresAt: claims.expiresAt };
  };
  // The stream is a read: a producer's credential is refused like an invalid one.
  return async (credential) => {
    const principal = await principalOf(credential);
    return principal && mayAccess(principal.role, 'viewer') ? principal : undefined;
  };
}

/**
 * A credential presented during the upgrade: `?token=` (browsers cannot set headers on a WebSocket) or a
 * `bearer.<token>` subprotocol; undefined when the client will authenticate with its first message.
 */
export function upgradeCredential(req: IncomingMessage): string | undefined {
  const query = new URL(req.url ?? '/', 'http://gateway').searchParams.get('token');
  if (query) return query;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX) && p.length > BEARER_SUBPROTOCOL_PREFIX.length)?.slice(BEARER_SUBPROTOCOL_PREFIX.length);
}
