import nodemailer, { type NodemailerError, type Transporter } from 'nodemailer';
import type { Notification } from '@terminusa/alerting';
import type { Config } from '@terminusa/config';
import { DeliveryError, type Channel } from './channel.ts';
import { renderNotification } from './render-notification.ts';

/** Settings of the e-mail channel (`alerts.channels.email`). */
export type EmailSettings = NonNullable<Config['alerts']['channels']['email']>;

/** Milliseconds one e-mail may take from connecting to the server's final answer. */
export const DEFAULT_SMTP_TIMEOUT_MS = 10_000;

// Failures without an SMTP reply that come from our settings or the message, not from the network: retrying cannot help.
const PERMANENT_CODES = new Set(['EAUTH', 'ENOAUTH', 'ECONFIG', 'EENVELOPE', 'EMESSAGE', 'EREQUIRETLS', 'EOAUTH2']);

/** Delivers notifications as e-mail (plain text and HTML) over SMTP. */
export class EmailChannel implements Channel {
  readonly name = 'email' as const;
  readonly timeoutMs: number;
  readonly #transport: Transporter;
  readonly #from: string;
  readonly #to: string[];

  constructor(settings: EmailSettings, options: { timeoutMs?: number } = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_SMTP_TIMEOUT_MS;
    this.#from = settings.from;
    this.#to = [...settings.to];
    this.#transport = nodemailer.createTransport({
      host: settings.host,
      port: settings.port,
      // secure: TLS from the first byte (465); otherwise STARTTLS, which requireTLS makes mandatory instead of opportunistic.
      secure: settings.secure,
      requireTLS: !settings.secure && settings.requireTls,
      auth: settings.user ? { user: settings.user, pass: settings.password ?? '' } : undefined,
      connectionTimeout: this.timeoutMs,
      greetingTimeout: this.timeoutMs,
      socketTimeout: this.timeoutMs,
    });
  }

  /** Sends one e-mail to every configured address, the notification's title as subject. */
  async send(n: Notification): Promise<void> {
    const { title, text, html } = renderNotification(n);
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to: this.#to,
        subject: title,
        text,
        html,
        headers: { 'X-Tmon-Notification-Id': n.id },
        // nodemailer's timeouts are per step; the signal bounds the whole delivery.
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw smtpDeliveryError(err, this.timeoutMs);
    }
  }
}

/** Maps a nodemailer failure to a DeliveryError: 4xx replies and connection failures retry, 5xx replies do not. */
export function smtpDeliveryError(err: unknown, timeoutMs: number): DeliveryError {
  const e = (err ?? {}) as NodemailerError;
  if (typeof e.responseCode === 'number') {
    // RFC 5321: 4yz replies (421 closing, 450/451/452 mailbox busy, local error, no storage) are transient, 5yz are final.
    const retryable = e.responseCode < 500;
    const to = e.command && /^[A-Z][A-Z ]*$/.test(e.command) ? ` to ${e.command}` : '';
    return new DeliveryError('email', `smtp server answered ${e.responseCode}${to}`, { retryable, status: e.responseCode, cause: err });
  }
  if (e.code === 'EABORT') return new DeliveryError('email', `smtp delivery did not finish within ${timeoutMs} ms`, { retryable: true, cause: err });
  const code = typeof e.code === 'string' ? e.code : 'unknown error';
  return new DeliveryError('email', `smtp delivery failed (${code})`, { retryable: !PERMANENT_CODES.has(code), cause: err });
}
