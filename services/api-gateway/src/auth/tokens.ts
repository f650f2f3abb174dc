import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '@terminusa/config';
import { readOrCreateSecret } from './secret-file.ts';
import { ROLES, type Role } from './principal.ts';

/** What a valid token says about its bearer. */
export interface TokenClaims {
  subject: string;
  role: Role;
  tokenId: string;
  /** Epoch seconds. */
  expiresAt: number;
}

const ISSUER = 'terminusa-monitoring';

/** Issues, verifies and revokes the gateway's bearer tokens (HS256 JWTs with a `kid`, so keys can rotate). */
export class TokenService {
  private constructor(
    private readonly key: Uint8Array,
    private readonly kid: string,
    private readonly expirySeconds: number,
    private readonly redis: Redis,
    private readonly revokedPrefix: string,
  ) {}

  /** Uses JWT_SECRET when configured, otherwise a secret generated once into `<dataDir>/jwt-secret` (mode 0600). */
  static async fromConfig(config: Readonly<Config>, redis: Redis): Promise<TokenService> {
    const secret = config.auth.jwtSecret ?? (await readOrCreateSecret(join(config.dataDir, 'jwt-secret'), 48)).value;
    const kid = createHash('sha256').update(secret).digest('hex').slice(0, 12);
    return new TokenService(new TextEncoder().encode(secret), kid, config.auth.tokenExpiry, redis, `${config.redis.prefix}revoked:`);
  }

  /** A signed token for `subject` with `role`, valid for the configured expiry. */
  async issue(subject: string, role: Role): Promise<{ token: string; expiresAt: number }> {
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + this.expirySeconds;
    const token = await new SignJWT({ role })
      .setProtectedHeader({ alg: 'HS256', kid: this.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(this.key);
    return { token, expiresAt };
  }

  /** The claims of a valid, unrevoked token; rejects an expired, forged, revoked or malformed one (and `alg: none`). */
  async verify(token: string): Promise<TokenClaims> {
    const { payload } = await jwtVerify<JWTPayload & { role?: string }>(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
    const role = ROLES.find((r) => r === payload.role);
    if (!role || !payload.sub || !payload.jti || !payload.exp) throw new Error('token lacks required claims');
    if (await this.redis.exists(this.revokedPrefix + payload.jti)) throw new Error('token revoked');
    return { subject: payload.sub, role, tokenId: payload.jti, expiresAt: payload.exp };
  }

  /** Revokes a token until it would have expired anyway (a denylist by `jti`, shared by all gateway replicas). */
  async revoke(claims: { tokenId: string; expiresAt: number }): Promise<void> {
    const ttl = Math.max(1, claims.expiresAt - Math.floor(Date.now() / 1000));
    await this.redis.set(this.revokedPrefix + claims.tokenId, '1', 'EX', ttl);
  }
}
