import { createHmac } from 'node:crypto';
import type { Notification } from '@terminusa/alerting';
import type { Config } from '@terminusa/config';
import type { Channel } from './channel.ts';
import { DEFAULT_HTTP_TIMEOUT_MS, postJson } from './post-json.ts';

/** Settings of the webhook channel (`alerts.channels.webhook`). */
export type WebhookSettings = NonNullable<Config['alerts']['channels']['webhook']>;

/** The JSON body the webhook channel POSTs. */
export interface WebhookPayload {
  version: '1';
  notification: Notification;
}

/**
 * Delivers notifications as signed JSON to an HTTP endpoint.
 *
 * The request is `POST <url>` with body `{"version":"1","notification":{…}}` and these headers:
 * - `x-tmon-timestamp`: epoch milliseconds when the request was signed;
 * - `x-tmon-signature`: `sha256=` and the lower-case hex HMAC-SHA256, keyed with the shared secret, of
 *   `${timestamp}.${body}` (the timestamp header, a dot, then the exact body bytes). The timestamp is signed
 *   so a receiver can refuse old requests and a captured request cannot be replayed later;
 * - `idempotency-key`: the notification id, the same on every retry, so a receiver can drop duplicates.
 */
export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;
  readonly timeoutMs: number;
  // Private fields, so the secret and the URL do not show when the channel is logged or serialized.
  readonly #url: string;
  readonly #secret: string;

  constructor(settings: WebhookSettings, options: { timeoutMs?: number } = {}) {
    this.#url = settings.url;
    this.#secret = settings.secret;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  }

  /** POSTs the signed notification. */
  async send(n: Notification): Promise<void> {
    const payload: WebhookPayload = { version: '1', notification: n };
    const body = JSON.stringify(payload);
    const timestamp = String(Date.now());
    await postJson({
      channel: this.name,
      receiver: 'webhook receiver',
      url: this.#url,
      body,
      headers: {
        'x-tmon-timestamp': timestamp,
        'x-tmon-signature': signWebhook(this.#secret, timestamp, body),
        'idempotency-key': n.id,
      },
      timeoutMs: this.timeoutMs,
    });
  }
}

/** The `x-tmon-signature` value of a body sent at `timestamp`: `sha256=` + hex HMAC-SHA256 of `${timestamp}.${body}`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}
