/**
 * The bytes of pushed request bodies (decompressed) one gateway decodes and publishes at once. Each request is bounded
 * on its own, but a 4 MB remote-write body of empty samples makes about 100 MB of objects, and twenty such requests
 * in parallel from one producer key took a gateway past its memory limit; past the budget a request is pushed back
 * (503 or 429 with Retry-After, which senders retry), and a request always fits a budget nobody holds.
 */
export class DecodingBudget {
  private used = 0;

  constructor(readonly bytes: number) {}

  /** Takes `size` bytes when they fit; returns the function that gives them back (once), or undefined when they do not. */
  take(size: number): (() => void) | undefined {
    if (this.used > 0 && this.used + size > this.bytes) return undefined;
    this.used += size;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.used -= size;
    };
  }

  /** The bytes held now. */
  get held(): number {
    return this.used;
  }
}
