/** Roles of the suite, from least to most privileged (seed ACCESS_LEVELS: viewer reads, operator writes, admin all). */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
/** One role. */
export type Role = (typeof ROLES)[number];

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
}
