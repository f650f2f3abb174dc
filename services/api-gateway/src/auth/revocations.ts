import type { Redis } from 'ioredis';
import { z } from 'zod';

/**
 * Every token of a user, or an API key, stopped working. (A token replaced by a refresh is not announced: its
 * session lives on in the new token, so a stream still on the old one may wait for its next re-check.)
 */
export type Revocation = { kind: 'user'; subject: string } | { kind: 'api-key'; keyId: string };

const RevocationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('user'), subject: z.string().min(1) }),
  z.object({ kind: z.literal('api-key'), keyId: z.string().min(1) }),
]);

/** What a listener gets: each event, and a call after a reconnect of its subscription (events may have been missed). */
export interface RevocationListener {
  revoked(event: Revocation): void;
  missedSome(): void;
}

/**
 * Announces revocations to every gateway replica over Redis pub/sub (`<prefix>auth:revocations`), where the
 * revocations themselves are written: a listener that hears an event finds the new state in Redis already.
 * Pub/sub delivers at most once and only to connected listeners, so listeners also re-check on their own.
 * {@link publish} also tells this instance's own listeners before it returns, so they may hear an event twice.
 */
export class RevocationChannel {
  readonly channel: string;
  readonly #local = new Set<RevocationListener>();

  constructor(
    private readonly redis: Redis,
    redisPrefix: string,
  ) {
    this.channel = `${redisPrefix}auth:revocations`;
  }

  /** The event as the message to publish (for scripts that write and publish in one step). */
  encode(event: Revocation): string {
    return JSON.stringify(event);
  }

  /**
   * Announces an event (after its state was written): to this instance's listeners at once, so the replica that
   * revoked never answers from what it held, then to every replica over Redis.
   */
  async publish(event: Revocation): Promise<void> {
    for (const listener of this.#local) listener.revoked(event);
    await this.redis.publish(this.channel, this.encode(event));
  }

  /**
   * Listens on a connection of its own (a subscribed Redis connection takes no other commands); resolves once
   * subscribed, with the function that stops listening.
   */
  async listen(listener: RevocationListener, onInvalid: (error: string) => void = () => undefined): Promise<() => Promise<void>> {
    const sub = this.redis.duplicate({ lazyConnect: true, maxRetriesPerRequest: null });
    let subscribedOnce = false;
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      let parsed: ReturnType<typeof RevocationSchema.safeParse>;
      try {
        parsed = RevocationSchema.safeParse(JSON.parse(message));
      } catch {
        return onInvalid('not JSON');
      }
      if (parsed.success) listener.revoked(parsed.data);
      else onInvalid(parsed.error.message);
    });
    // ioredis subscribes again after a reconnect; whatever was published in between was lost.
    sub.on('ready', () => {
      if (subscribedOnce) listener.missedSome();
    });
    await sub.connect();
    await sub.subscribe(this.channel);
    subscribedOnce = true;
    this.#local.add(listener);
    return async () => {
      this.#local.delete(listener);
      sub.removeAllListeners('message');
      await sub.quit().catch(() => sub.disconnect());
    };
  }
}
