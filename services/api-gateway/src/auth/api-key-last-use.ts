/**
 * Least time between two writes of one key's `last_used_at`: a minute keeps writes off the hot path of busy keys
 * (Grafana, remote_write) while `GET /api-keys` still tells a used key from a forgotten one.
 */
export const LAST_USE_INTERVAL_MS = 60_000;
/** How long marks gather before one statement writes them all, so keys used together cost one write. */
export const LAST_USE_BATCH_DELAY_MS = 1_000;

/**
 * The uses of API keys, written in batches in the background: a key's first use in a minute is queued, later ones
 * are dropped, and the queue is written `batchDelayMs` after its first entry. A failed write is reported to
 * `onError` (never thrown into a request) and its keys are queued again at their next use.
 */
export class ApiKeyLastUse {
  /** When each key's last use was queued; pruned at each write, so it holds only the keys used in the last interval. */
  readonly #queuedAt = new Map<string, number>();
  readonly #pending = new Set<string>();
  readonly #settings: { intervalMs: number; batchDelayMs: number; now: () => number };
  #timer: NodeJS.Timeout | undefined;
  #writes: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    private readonly write: (keyIds: readonly string[]) => Promise<void>,
    private readonly onError: (error: Error, keyIds: readonly string[]) => void,
    settings: { intervalMs?: number; batchDelayMs?: number; now?: () => number } = {},
  ) {
    this.#settings = { intervalMs: settings.intervalMs ?? LAST_USE_INTERVAL_MS, batchDelayMs: settings.batchDelayMs ?? LAST_USE_BATCH_DELAY_MS, now: settings.now ?? Date.now };
  }

  /** Marks a use of `keyId`: queued when its last write is older than the interval, otherwise nothing. */
  used(keyId: string): void {
    if (this.#closed) return;
    const now = this.#settings.now();
    const queued = this.#queuedAt.get(keyId);
    if (queued !== undefined && now - queued < this.#settings.intervalMs) return;
    this.#queuedAt.set(keyId, now);
    this.#pending.add(keyId);
    // Unref'd: a pending mark never keeps a process alive; shutdown writes it through close().
    this.#timer ??= setTimeout(() => void this.flush(), this.#settings.batchDelayMs).unref();
  }

  /** Writes the queued keys now; resolves when every write begun so far has ended. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const keyIds = [...this.#pending];
    this.#pending.clear();
    const now = this.#settings.now();
    for (const [keyId, at] of this.#queuedAt) if (now - at >= this.#settings.intervalMs) this.#queuedAt.delete(keyId);
    if (!keyIds.length) return this.#writes;
    // Writes run one after the other, so close() waits for all of them.
    this.#writes = this.#writes.then(async () => {
      try {
        await this.write(keyIds);
      } catch (err) {
        for (const keyId of keyIds) this.#queuedAt.delete(keyId);
        this.onError(err instanceof Error ? err : new Error(String(err)), keyIds);
      }
    });
    return this.#writes;
  }

  /** Writes what is queued and takes no more marks (at shutdown, before the database closes). */
  close(): Promise<void> {
    this.#closed = true;
    return this.flush();
  }
}
