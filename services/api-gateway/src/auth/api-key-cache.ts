import { timingSafeEqual } from 'node:crypto';
import type { Role } from './principal.ts';
import type { RevocationChannel } from './revocations.ts';
import { parseApiKey, type PgUserStore } from './user-store.ts';

/** How long a verified key is trusted before PostgreSQL is asked again: the user cache's 5 s, the backstop should a revocation event be lost. */
export const API_KEY_CACHE_MS = 5_000;
/** Most keys held; beyond it the oldest is dropped (only keys that verified are held, so this is far above any real count). */
export const DEFAULT_API_KEY_CACHE_SIZE = 10_000;

/** What a request needs of a verified key. */
export interface VerifiedApiKey {
  id: string;
  name: string;
  role: Role;
}

interface Entry {
  key: VerifiedApiKey;
  /** sha256 of the secret that verified: the secret itself is never held. */
  secretHash: Buffer;
  at: number;
}

/**
 * Verifies API keys from memory: a key that verified in PostgreSQL is trusted for {@link API_KEY_CACHE_MS}, so a busy
 * key (Grafana, remote_write) costs no database round trip. Only keys that verified are held; a wrong key is asked of
 * PostgreSQL each time, as before. Listening to the {@link RevocationChannel}, it forgets a key as soon as any replica
 * revokes it, and everything after its subscription missed events.
 */
export class ApiKeyCache {
  readonly #entries = new Map<string, Entry>();
  /** Checks of the same key under way, shared by concurrent requests (keyed by epoch, id and secret hash). */
  readonly #inFlight = new Map<string, Promise<VerifiedApiKey | undefined>>();
  readonly #settings: { ttlMs: number; maxEntries: number };
  /** Grows with every revocation heard: a check that saw it change may have read the state before it. */
  #epoch = 0;
  #stopListening: (() => Promise<void>) | undefined;

  constructor(
    private readonly users: Pick<PgUserStore, 'verifyApiKey' | 'apiKeyUsed'>,
    settings: { ttlMs?: number; maxEntries?: number } = {},
  ) {
    this.#settings = { ttlMs: settings.ttlMs ?? API_KEY_CACHE_MS, maxEntries: settings.maxEntries ?? DEFAULT_API_KEY_CACHE_SIZE };
  }

  /** The live key a presented `tmk_…` string stands for; undefined when it is malformed, unknown, wrong or revoked. */
  async verify(presented: string): Promise<VerifiedApiKey | undefined> {
    const parsed = parseApiKey(presented);
    if (!parsed) return undefined;
    const held = this.#held(parsed);
    if (held !== 'ask') return held;
    // A check begun before a revocation is not shared with requests that come after it.
    const epoch = this.#epoch;
    const flight = `${epoch}:${parsed.id}:${parsed.secretHash.toString('hex')}`;
    let check = this.#inFlight.get(flight);
    if (!check) {
      check = this.users
        .verifyApiKey(parsed)
        .then((row) => {
          if (!row) return undefined;
          const key = { id: row.id, name: row.name, role: row.role };
          if (epoch === this.#epoch) this.#remember(key, parsed.secretHash);
          return key;
        })
        .finally(() => this.#inFlight.delete(flight));
      this.#inFlight.set(flight, check);
    }
    return check;
  }

  /**
   * What memory alone says of a presented key: the key, undefined when it is malformed or wrong, or `ask` when only
   * PostgreSQL can tell ({@link verify} then asks).
   */
  held(presented: string): VerifiedApiKey | undefined | 'ask' {
    const parsed = parseApiKey(presented);
    return parsed ? this.#held(parsed) : undefined;
  }

  #held(parsed: NonNullable<ReturnType<typeof parseApiKey>>): VerifiedApiKey | undefined | 'ask' {
    const hit = this.#entries.get(parsed.id);
    if (!hit || Date.now() - hit.at >= this.#settings.ttlMs) return 'ask';
    // A key's id always goes with one secret: a different one is wrong without asking PostgreSQL.
    if (!timingSafeEqual(hit.secretHash, parsed.secretHash)) return undefined;
    this.users.apiKeyUsed(hit.key.id);
    return hit.key;
  }

  /** Drops one key (it was revoked). */
  forget(keyId: string): void {
    this.#epoch++;
    this.#entries.delete(keyId);
  }

  /** Drops every key (revocations may have been missed). */
  clear(): void {
    this.#epoch++;
    this.#entries.clear();
  }

  /** Keys held now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Forgets keys as `channel` announces their revocation (this replica's own announcements at once), and everything
   * after its subscription reconnected; resolves once subscribed.
   */
  async listen(channel: RevocationChannel, onInvalid?: (error: string) => void): Promise<void> {
    if (this.#stopListening) throw new Error('the API key cache is already listening');
    this.#stopListening = await channel.listen(
      {
        revoked: (event) => {
          if (event.kind === 'api-key') this.forget(event.keyId);
        },
        missedSome: () => this.clear(),
      },
      onInvalid,
    );
  }

  /** Stops listening and drops every key. */
  async close(): Promise<void> {
    const stop = this.#stopListening;
    this.#stopListening = undefined;
    this.clear();
    await stop?.();
  }

  #remember(key: VerifiedApiKey, secretHash: Buffer): void {
    this.#entries.delete(key.id);
    if (this.#entries.size >= this.#settings.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key.id, { key, secretHash, at: Date.now() });
  }
}
