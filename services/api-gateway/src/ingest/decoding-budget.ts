/** What one request holds of a {@link DecodingBudget}. */
export interface DecodingLease {
  /** Takes `more` bytes beside those held when they fit, or when no other request holds any; false, taking nothing, when they do not. */
  grow(more: number): boolean;
  /** Gives back every byte held (once). */
  release(): void;
}

/**
 * The bytes of pushed request bodies (decompressed) one gateway decodes and publishes at once. Each request is bounded
 * on its own, but a 4 MB remote-write body of empty samples makes about 100 MB of objects, and twenty such requests
 * in parallel from one producer key took a gateway past its memory limit; past the budget a request is pushed back
 * (503 or 429 with Retry-After, which senders retry), and a request always fits a budget nobody holds. A request
 * whose samples' tags, written out once per sample in its messages, are more bytes than it holds holds those too
 * before it publishes ({@link DecodingLease.grow}): a 170 KB body, one series of 32 long labels and 15,000 samples,
 * makes 128 MB of messages.
 */
export class DecodingBudget {
  private used = 0;

  constructor(readonly bytes: number) {}

  /** Takes `size` bytes when they fit; returns the request's hold on them, or undefined when they do not. */
  take(size: number): DecodingLease | undefined {
    if (this.used > 0 && this.used + size > this.bytes) return undefined;
    this.used += size;
    let held = size;
    let given = false;
    return {
      grow: (more) => {
        if (given) return false;
        // As take: it fits, or this request is the only one holding any.
        if (this.used > held && this.used + more > this.bytes) return false;
        this.used += more;
        held += more;
        return true;
      },
      release: () => {
        if (given) return;
        given = true;
        this.used -= held;
      },
    };
  }

  /** The bytes held now. */
  get held(): number {
    return this.used;
  }
}
