import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '@terminusa/config';
import { readOrCreateSecret } from './secret-file.ts';

/** Roles of the suite, from least to most privileged (seed ACCESS_LEVELS). */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
/** One role. */
export type Role = (typeof ROLES)[number];

/** What a valid token says about its bearer. */
export interface TokenClaims {
  subject: string;
  role: Role;
  tokenId: string;
  expiresAt: number;
}

const ISSUER = 'terminusa-monitoring';

/** Issues and verifies the gateway's bearer tokens (HS256 JWTs with a `kid`, so keys can rotate). */
export class TokenService {
  private constructor(
    private readonly key: Uint8Array,
    private readonly kid: string,
    private readonly expirySeconds: number,
  ) {}

  /** Uses JWT_SECRET when configured, otherwise a secret generated once into `<dataDir>/jwt-secret`. */
  static async fromConfig(config: Readonly<Config>): Promise<TokenService> {
    const secret = config.auth.jwtSecret ?? (await readOrCreateSecret(join(config.dataDir, 'jwt-secret'), 48)).value;
    const kid = createHash('sha256').update(secret).digest('hex').slice(0, 12);
    return new TokenService(new TextEncoder().encode(secret), kid, config.auth.tokenExpiry);
  }

  /** A signed token for `subject` with `role`, valid for the configured expiry. */
  async issue(subject: string, role: Role): Promise<{ token: string; expiresAt: number }> {
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + this.expirySeconds;
    const token = await new SignJWT({ role })
      .setProtectedHeader({ alg: 'HS256', kid: this.kid })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(this.key);
    return { token, expiresAt };
  }

  /** The claims of a valid token; rejects an expired, forged or malformed one. */
  async verify(token: string): Promise<TokenClaims> {
    const { payload } = await jwtVerify<JWTPayload & { role?: string }>(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
    const role = ROLES.find((r) => r === payload.role);
    if (!role || !payload.sub || !payload.jti || !payload.exp) throw new Error('token lacks required claims');
    return { subject: payload.sub, role, tokenId: payload.jti, expiresAt: payload.exp };
  }
}
