/**
 * Roles of the suite. `producer` only writes samples (remote_write, OTLP, custom metrics) and reads nothing; the
 * others read, from least to most privileged (seed ACCESS_LEVELS: viewer reads, operator writes, admin all).
 */
export const ROLES = ['producer', 'viewer', 'operator', 'admin'] as const;
/** One role. */
export type Role = (typeof ROLES)[number];

/**
 * Whether `role` may call what needs `access`: writing samples (`producer`) is open to producers, operators and
 * admins; everything else needs at least the role asked for, and is closed to producers.
 */
export function mayAccess(role: Role, access: Role): boolean {
  if (access === 'producer') return role !== 'viewer';
  return role !== 'producer' && ROLES.indexOf(role) >= ROLES.indexOf(access);
}

/** One sign-in: every token refreshed from it carries the same id and sign-in time. */
export interface Session {
  /** `sid`: a random id given at sign-in. */
  id: string;
  /** `auth_time`: when the user signed in, epoch seconds with millisecond precision (Redis' clock). */
  authTime: number;
  /** Epoch seconds the session ends (`auth_time` + auth.sessionLifetime): no token of it is valid later. */
  endsAt: number;
}

/** Who is calling: a signed-in user (bearer token) or an API key. */
export interface Principal {
  kind: 'user' | 'api-key';
  /** Username, or the API key's name. */
  subject: string;
  role: Role;
  /** Token id (`jti`) or API key id: the unit of rate limiting and revocation. */
  id: string;
  /** Epoch seconds a token expires (users only). */
  expiresAt?: number;
  /** The sign-in a token belongs to (users only): kept across refreshes, it ends auth.sessionLifetime after sign-in. */
  session?: Session;
}
