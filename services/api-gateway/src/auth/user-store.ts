import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { withTransaction } from '@terminusa/database';
import type { Logger } from '@terminusa/runtime';
import { ApiKeyLastUse } from './api-key-last-use.ts';
import type { Role } from './principal.ts';
import { hashPassword } from './password-hash.ts';

/** A user as admins see it (never its hash). */
export interface User {
  id: string;
  username: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

/** An API key as listed (never its secret). */
export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revoked: boolean;
}

/** API keys are `tmk_<id>_<secret>`: the id finds the row, the secret is checked against its sha256. */
const API_KEY = /^tmk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** A presented API key taken apart: its id, and the sha256 of its secret (the secret itself is not kept). */
export interface PresentedApiKey {
  id: string;
  secretHash: Buffer;
}

const toUser = (r: { id: string; username: string; role: Role; disabled: boolean; created_at: Date }): User => ({
  id: r.id,
  username: r.username,
  role: r.role,
  disabled: r.disabled,
  createdAt: r.created_at.toISOString(),
});

/**
 * Users and API keys in PostgreSQL. An API key's use is marked in memory and its `last_used_at` written in the
 * background, at most once a minute per key ({@link ApiKeyLastUse}); {@link close} writes what is pending.
 */
export class PgUserStore {
  readonly #lastUse: ApiKeyLastUse;

  constructor(
    private readonly pool: pg.Pool,
    options: { logger?: Pick<Logger, 'warn'> } = {},
  ) {
    this.#lastUse = new ApiKeyLastUse(
      (keyIds) => this.touchApiKeys(keyIds),
      (error, keyIds) =>
        options.logger
          ? options.logger.warn('cannot write the last use of API keys', { error: error.message, keyIds })
          : process.emitWarning(`cannot write the last use of API keys ${keyIds.join(', ')}: ${error.message}`),
    );
  }

  /** Creates the first admin if there is none; true when it was created now. */
  async ensureAdmin(username: string, password: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, 'admin') ON CONFLICT (username) DO NOTHING", [
      randomUUID(),
      username,
      await hashPassword(password),
    ]);
    return (rowCount ?? 0) > 0;
  }

  /** A user with its password hash, for sign-in. */
  async credentials(username: string): Promise<(User & { passwordHash: string }) | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM users WHERE username = $1', [username]);
    return rows[0] ? { ...toUser(rows[0]), passwordHash: rows[0].password_hash } : undefined;
  }

  /** Role and status of a user, to re-check a token's bearer. */
  async byUsername(username: string): Promise<User | undefined> {
    const { rows } = await this.pool.query('SELECT id, username, role, disabled, created_at FROM users WHERE username = $1', [username]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async byId(id: string): Promise<User | undefined> {
    const { rows } = await this.pool.query('SELECT id, username, role, disabled, created_at FROM users WHERE id = $1', [id]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async list(): Promise<User[]> {
    const { rows } = await this.pool.query('SELECT id, username, role, disabled, created_at FROM users ORDER BY username');
    return rows.map(toUser);
  }

  /** Creates a user; undefined when the name is taken. */
  async create(username: string, password: string, role: Role): Promise<User | undefined> {
    const { rows } = await this.pool.query(
      'INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING id, username, role, disabled, created_at',
      [randomUUID(), username, await hashPassword(password), role],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  /**
   * Changes role, status or password; the user before and after, `last-admin` when the change would leave no enabled
   * admin (nobody could manage users again), or undefined when there is no such user. The user and the enabled
   * admins are locked in id order first, so two admins demoting each other at once neither both succeed nor deadlock.
   */
  async update(id: string, change: { role?: Role; disabled?: boolean; password?: string }): Promise<{ user: User; before: User } | 'last-admin' | undefined> {
    const passwordHash = change.password ? await hashPassword(change.password) : null;
    return withTransaction(this.pool, async (client) => {
      const { rows: locked } = await client.query<{ id: string; role: Role; disabled: boolean }>(
        "SELECT id, role, disabled FROM users WHERE id = $1 OR (role = 'admin' AND NOT disabled) ORDER BY id FOR UPDATE",
        [id],
      );
      const old = locked.find((r) => r.id === id);
      if (!old) return undefined;
      const staysAdmin = (change.role ?? old.role) === 'admin' && !(change.disabled ?? old.disabled);
      if (!staysAdmin && !locked.some((r) => r.id !== id && r.role === 'admin' && !r.disabled)) return 'last-admin';
      const { rows } = await client.query(
        `UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), password_hash = COALESCE($4, password_hash), updated_at = now()
          WHERE id = $1 RETURNING id, username, role, disabled, created_at`,
        [id, change.role ?? null, change.disabled ?? null, passwordHash],
      );
      const user = toUser(rows[0]);
      return { user, before: { ...user, role: old.role, disabled: old.disabled } };
    });
  }

  /**
   * Replaces a user's password hash with one of `password` at today's setting, only if it is still `oldHash`: a
   * sign-in's upgrade that wrote over a reset made between its read and its write put the old password back.
   */
  async rehash(id: string, oldHash: string, password: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2', [id, oldHash, await hashPassword(password)]);
    return rowCount === 1;
  }

  /** The user who made API key `id` (its `created_by`), or undefined when there is no such key. */
  async apiKeyOwner(id: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ created_by: string }>('SELECT created_by FROM api_keys WHERE id = $1', [id]);
    return rows[0]?.created_by;
  }

  /** Creates an API key; the returned secret is shown once and only its hash is kept. */
  async createApiKey(name: string, role: Role, createdBy: string): Promise<{ key: ApiKey; secret: string }> {
    const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12);
    const secret = randomBytes(32).toString('base64url');
    const { rows } = await this.pool.query('INSERT INTO api_keys (id, name, key_hash, role, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *', [
      id,
      name,
      sha256(secret),
      role,
      createdBy,
    ]);
    return { key: toKey(rows[0]), secret: `tmk_${id}_${secret}` };
  }

  /** The live keys, oldest first; the revoked ones too when `revoked`. */
  async listApiKeys(revoked = false): Promise<ApiKey[]> {
    const { rows } = await this.pool.query(`SELECT * FROM api_keys ${revoked ? '' : 'WHERE revoked_at IS NULL'} ORDER BY created_at`);
    return rows.map(toKey);
  }

  /** Revokes a key at once; false when there is no such live key. */
  async revokeApiKey(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
    return (rowCount ?? 0) > 0;
  }

  /** Revokes the live keys `createdBy` made with one of `roles`; returns their ids. */
  async revokeApiKeysCreatedBy(createdBy: string, roles: readonly string[]): Promise<string[]> {
    if (roles.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>('UPDATE api_keys SET revoked_at = now() WHERE created_by = $1 AND role = ANY($2::text[]) AND revoked_at IS NULL RETURNING id', [createdBy, roles]);
    return rows.map((r) => r.id);
  }

  /** The live key a presented `tmk_…` string stands for, read from PostgreSQL (a read only: its use is written later). */
  async verifyApiKey(presented: string | PresentedApiKey): Promise<ApiKey | undefined> {
    const key = typeof presented === 'string' ? parseApiKey(presented) : presented;
    if (!key) return undefined;
    const { rows } = await this.pool.query('SELECT * FROM api_keys WHERE id = $1 AND key_hash = $2 AND revoked_at IS NULL', [key.id, key.secretHash.toString('hex')]);
    if (!rows[0]) return undefined;
    this.#lastUse.used(key.id);
    return toKey(rows[0]);
  }

  /** Marks a use of a key verified without asking PostgreSQL (from a cache); written with the others. */
  apiKeyUsed(keyId: string): void {
    this.#lastUse.used(keyId);
  }

  /** Sets `last_used_at` of these keys to now. */
  async touchApiKeys(keyIds: readonly string[]): Promise<void> {
    await this.pool.query('UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::text[])', [keyIds]);
  }

  /** Writes the pending last uses of API keys and stops marking new ones; call before the pool ends. */
  close(): Promise<void> {
    return this.#lastUse.close();
  }
}

/** The id and secret hash of a `tmk_<id>_<secret>` string; undefined when it is not shaped as one. */
export function parseApiKey(presented: string): PresentedApiKey | undefined {
  const m = API_KEY.exec(presented);
  return m ? { id: m[1]!, secretHash: createHash('sha256').update(m[2]!).digest() } : undefined;
}

/** Whether a bearer credential is an API key rather than a token. */
export function isApiKey(credential: string): boolean {
  return credential.startsWith('tmk_');
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function toKey(r: { id: string; name: string; role: Role; created_by: string; created_at: Date; last_used_at: Date | null; revoked_at: Date | null }): ApiKey {
  return { id: r.id, name: r.name, role: r.role, createdBy: r.created_by, createdAt: r.created_at.toISOString(), lastUsedAt: r.last_used_at?.toISOString() ?? null, revoked: r.revoked_at !== null };
}
