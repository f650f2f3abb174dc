import type { ChannelName, Notification } from '@terminusa/alerting';

/** A notification receiver: delivers one notification, or rejects with a DeliveryError. */
export interface Channel {
  readonly name: ChannelName;
  send(n: Notification): Promise<void>;
}

/** A failed delivery; `retryable` decides retries and breakers without matching on the message, which never holds a secret. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  readonly retryable: boolean;
  /** When set, retry no sooner than this many milliseconds (an open circuit), without spending an attempt. */
  readonly retryAfterMs?: number;
  readonly status?: number;

  constructor(
    readonly channel: ChannelName,
    message: string,
    options: { retryable: boolean; status?: number; cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.status !== undefined) this.status = options.status;
  }
}

/** Alertmanager's policy for HTTP receivers: 429 and 5xx may pass later, any other answer will not. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}
