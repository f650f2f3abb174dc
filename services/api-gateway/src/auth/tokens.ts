import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { errors, SignJWT, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '@terminusa/config';
import { readOrCreateSecret } from './secret-file.ts';
import { ROLES, type Role, type Session } from './principal.ts';
import { RevocationChannel } from './revocations.ts';

/** What a valid token says about its bearer. */
export interface TokenClaims {
  subject: string;
  role: Role;
  tokenId: string;
  /** Epoch seconds. */
  expiresAt: number;
  session: Session;
  /** Epoch ms of the user's last "revoke every token" (tokens of sessions begun earlier are refused); undefined when there was none lately. */
  userRevokedAt: number | undefined;
}

/** A token whose signature and session verified, before its revocation is checked. */
export type SignedToken = Omit<TokenClaims, 'userRevokedAt'>;

/** What Redis says of a token's revocation (see {@link TokenService.revocationMarks}). */
export interface RevocationMarks {
  tokenRevoked: boolean;
  /** Epoch ms of the user's last "revoke every token"; undefined when there was none lately. */
  userRevokedAt: number | undefined;
}

/** A token just issued. */
export interface IssuedToken {
  token: string;
  /** Epoch seconds. */
  expiresAt: number;
  session: Session;
}

/** Why a token was refused: `session-ended` when its session is older than auth.sessionLifetime. */
export type RefusalReason = 'invalid' | 'expired' | 'revoked' | 'session-ended' | 'changed-during-sign-in';

/** A token that does not authenticate its bearer, and why. */
export class TokenRefused extends Error {
  override readonly name = 'TokenRefused';
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

const ISSUER = 'terminusa-monitoring';
/** Most verified tokens held; past it all are dropped (each is re-verified at its next use). */
const SIGNED_TOKENS_HELD = 10_000;
/** The `aud` of the gateway's tokens, required on every token it accepts. */
export const AUDIENCE = 'terminusa-api';

/**
 * Sets the user's "revoked before" mark to Redis' clock now plus a millisecond, or past the mark it has (sessions
 * begun at that mark came after the last revocation and before this one), and announces it, in one step, so a
 * listener that hears the event finds the mark already written. The millisecond refuses a sign-in of the
 * revocation's own millisecond, which may have come before it; a sign-in after it begins no earlier than the mark
 * ({@link SIGN_IN_TIME_SCRIPT}). Returns the mark (epoch ms).
 */
const REVOKE_USER_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + 1
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= now then now = current + 1 end
redis.call('SET', KEYS[1], now, 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return now
`;

/**
 * A sign-in's time (epoch ms): Redis' clock now, the clock the revocation marks are set by, or the user's mark when
 * that is later, so a sign-in that Redis runs after a revocation is never taken for one before it. -1 when the user's
 * mark is not ARGV[1] (as read before the password was checked; empty for none; `*`: not checked): the user was
 * revoked meanwhile.
 */
const SIGN_IN_TIME_SCRIPT = `
local current = redis.call('GET', KEYS[1]) or ''
if ARGV[1] ~= '*' and current ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mark = tonumber(current ~= '' and current or '0')
if mark > now then return mark end
return now
`;

/**
 * Issues, verifies and revokes the gateway's bearer tokens (HS256 JWTs with a `kid`, so keys can rotate; `aud`
 * terminusa-api). A token belongs to a session (`sid`, `auth_time`) that ends auth.sessionLifetime after sign-in,
 * however often it is refreshed. Revocation is in Redis, shared by all replicas: a denylist by `jti` for one
 * token, and per user a mark that refuses every token of a session begun before it; a user's revocation is also
 * announced on the {@link RevocationChannel} for the live stream.
 */
export class TokenService {
  /** Tokens whose signature verified, by sha256 of the token (never the token itself). */
  readonly #signed = new Map<string, SignedToken>();

  private constructor(
    private readonly key: Uint8Array,
    private readonly kid: string,
    private readonly settings: { expirySeconds: number; sessionLifetimeSeconds: number },
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly revocations: RevocationChannel,
  ) {}

  /** Uses JWT_SECRET when configured, otherwise a secret generated once into `<dataDir>/jwt-secret` (mode 0600). */
  static async fromConfig(config: Readonly<Config>, redis: Redis): Promise<TokenService> {
    const secret = config.auth.jwtSecret ?? (await readOrCreateSecret(join(config.dataDir, 'jwt-secret'), 48)).value;
    const kid = createHash('sha256').update(secret).digest('hex').slice(0, 12);
    return new TokenService(
      new TextEncoder().encode(secret),
      kid,
      { expirySeconds: config.auth.tokenExpiry, sessionLifetimeSeconds: config.auth.sessionLifetime },
      redis,
      config.redis.prefix,
      new RevocationChannel(redis, config.redis.prefix),
    );
  }

  /** Seconds a session lasts after sign-in (auth.sessionLifetime). */
  get sessionLifetime(): number {
    return this.settings.sessionLifetimeSeconds;
  }

  /**
   * The user's revocation mark as it stands (empty for none): read by a sign-in before it checks the password, and
   * handed to {@link issue}, which refuses when it changed in between.
   */
  async signInMark(subject: string): Promise<string> {
    return (await this.redis.get(this.userKey(subject))) ?? '';
  }

  /**
   * A signed token for `subject` with `role`, valid for the configured expiry but never past its session's end.
   * Without `session` it starts a new one (a sign-in), refused (TokenRefused `changed-during-sign-in`) when the user's
   * mark is no longer `markSeen` ({@link signInMark}): a password reset or role change between the sign-in's read of
   * the account and its token left a token of the old password; a refresh passes the session of the token it replaces.
   */
  async issue(subject: string, role: Role, session?: Pick<Session, 'id' | 'authTime'>, markSeen?: string): Promise<IssuedToken> {
    const signedInAt = session ? undefined : Number(await this.redis.eval(SIGN_IN_TIME_SCRIPT, 1, this.userKey(subject), markSeen ?? '*'));
    if (signedInAt === -1) throw new TokenRefused('changed-during-sign-in', 'the account was changed (password, role or access) while signing in: sign in again');
    const authTime = session?.authTime ?? signedInAt! / 1000;
    const sid = session?.id ?? randomUUID();
    const endsAt = Math.floor(authTime + this.settings.sessionLifetimeSeconds);
    const now = Math.floor(Date.now() / 1000);
    if (endsAt <= now) throw new TokenRefused('session-ended', sessionEndedMessage(this.settings.sessionLifetimeSeconds));
    const expiresAt = Math.min(now + this.settings.expirySeconds, endsAt);
    const token = await new SignJWT({ role, sid, auth_time: authTime })
      .setProtectedHeader({ alg: 'HS256', kid: this.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(subject)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(expiresAt)
      .sign(this.key);
    return { token, expiresAt, session: { id: sid, authTime, endsAt } };
  }

  /**
   * The claims of a valid, unrevoked token of a live session; rejects with {@link TokenRefused} an expired, forged,
   * revoked or malformed one, one without `aud` terminusa-api, one of an ended session (and `alg: none`).
   * One Redis round trip.
   */
  async verify(token: string): Promise<TokenClaims> {
    const signed = await this.verifySignature(token);
    return this.unrevoked(signed, await this.revocationMarks(signed));
  }

  /**
   * The first half of {@link verify}, with no round trip: the token's signature, issuer, audience, claims, expiry
   * and session checked, its revocation not yet. The gateway's admission reads the marks beside its rate limits.
   */
  async verifySignature(token: string): Promise<SignedToken> {
    // A dashboard sends the same token with every request: its signature is checked once (jose's HMAC is WebCrypto,
    // a thread-pool hop each time), its expiry and session at every use.
    const digest = createHash('sha256').update(token).digest('base64url');
    const known = this.#signed.get(digest);
    if (known && known.expiresAt > Date.now() / 1000) {
      if (this.sessionEnded(known.session.authTime)) throw new TokenRefused('session-ended', sessionEndedMessage(this.settings.sessionLifetimeSeconds));
      return known;
    }
    // An expired one is not held on; jose says why it is refused.
    if (known) this.#signed.delete(digest);
    const signed = await this.#verifySignature(token);
    if (this.#signed.size >= SIGNED_TOKENS_HELD) this.#signed.clear();
    this.#signed.set(digest, signed);
    return signed;
  }

  async #verifySignature(token: string): Promise<SignedToken> {
    let payload: JWTPayload & { role?: unknown; sid?: unknown; auth_time?: unknown };
    try {
      ({ payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], requiredClaims: ['sub', 'jti', 'exp', 'iat', 'sid', 'auth_time'] }));
    } catch (err) {
      // The signature was checked before the expiry, so the payload of an expired token is the gateway's own.
      if (err instanceof errors.JWTExpired) {
        const authTime = err.payload.auth_time;
        if (typeof authTime === 'number' && this.sessionEnded(authTime)) throw new TokenRefused('session-ended', sessionEndedMessage(this.settings.sessionLifetimeSeconds));
        throw new TokenRefused('expired', 'token expired');
      }
      throw new TokenRefused('invalid', (err as Error).message);
    }
    const role = ROLES.find((r) => r === payload.role);
    const { sub, jti, exp, sid, auth_time: authTime } = payload;
    if (!role || !sub || !jti || !exp || typeof sid !== 'string' || typeof authTime !== 'number') throw new TokenRefused('invalid', 'token lacks required claims');
    // A lowered auth.sessionLifetime applies to sessions already begun.
    if (this.sessionEnded(authTime)) throw new TokenRefused('session-ended', sessionEndedMessage(this.settings.sessionLifetimeSeconds));
    return { subject: sub, role, tokenId: jti, expiresAt: exp, session: { id: sid, authTime, endsAt: Math.floor(authTime + this.settings.sessionLifetimeSeconds) } };
  }

  /** What Redis holds on a signed token's revocation: the denylist entry of its `jti` and its user's mark. One round trip. */
  async revocationMarks(signed: SignedToken): Promise<RevocationMarks> {
    const [tokenRevoked, userRevokedAt] = await this.redis.mget(this.tokenKey(signed.tokenId), this.userKey(signed.subject));
    return { tokenRevoked: tokenRevoked !== null, userRevokedAt: userRevokedAt === null ? undefined : Number(userRevokedAt) };
  }

  /** The second half of {@link verify}: the claims of `signed` unless `marks` revoke it. */
  unrevoked(signed: SignedToken, marks: RevocationMarks): TokenClaims {
    if (marks.tokenRevoked) throw new TokenRefused('revoked', 'token revoked');
    const { userRevokedAt } = marks;
    if (userRevokedAt !== undefined && Math.round(signed.session.authTime * 1000) < userRevokedAt) throw new TokenRefused('revoked', 'token revoked');
    return { ...signed, userRevokedAt };
  }

  /**
   * Revokes one token until it would have expired anyway (a denylist by `jti`): the token a refresh replaced. Not
   * announced: its session goes on in the new token, which a live stream is handed without reconnecting.
   */
  async revoke(claims: { tokenId: string; expiresAt: number }): Promise<void> {
    const ttl = Math.max(1, claims.expiresAt - Math.floor(Date.now() / 1000));
    await this.redis.set(this.tokenKey(claims.tokenId), '1', 'EX', ttl);
  }

  /**
   * Revokes every token of `subject` issued so far, on every replica: tokens of sessions begun before now are
   * refused, sign-ins from now on are not. Kept for a session lifetime, after which no such token is valid anyway.
   */
  async revokeUser(subject: string): Promise<void> {
    const ttlMs = (Math.max(this.settings.sessionLifetimeSeconds, this.settings.expirySeconds) + 60) * 1000;
    await this.redis.eval(REVOKE_USER_SCRIPT, 1, this.userKey(subject), ttlMs, this.revocations.channel, this.revocations.encode({ kind: 'user', subject }));
  }

  /** Announces that an API key was revoked (in PostgreSQL), for the API key caches and live streams of every replica, this one's at once. */
  async apiKeyRevoked(keyId: string): Promise<void> {
    await this.revocations.publish({ kind: 'api-key', keyId });
  }

  /** Whether the session begun at `authTime` has ended: its end is in whole seconds, as a token's `exp`. */
  private sessionEnded(authTime: number): boolean {
    return Math.floor(authTime + this.settings.sessionLifetimeSeconds) <= Date.now() / 1000;
  }

  private tokenKey(jti: string): string {
    return `${this.prefix}revoked:${jti}`;
  }

  private userKey(subject: string): string {
    return `${this.prefix}auth:user-revoked:${subject}`;
  }
}

/** What a client of an ended session is told. */
export function sessionEndedMessage(lifetimeSeconds: number): string {
  return `the session ended: sessions last ${describeSeconds(lifetimeSeconds)} after sign-in (auth.sessionLifetime), refreshes included; sign in again`;
}

function describeSeconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
