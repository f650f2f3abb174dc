import type { Notification } from '@terminusa/alerting';
import { DeliveryError, type Channel } from './channel.ts';

/** Hands a notification to the dashboard's feed; the service wires it to the bus. */
export type PublishDashboard = (n: Notification) => Promise<void>;

/** NATS' default largest message (max_payload), when the server does not say. */
const DEFAULT_MAX_BYTES = 1024 * 1024;
/** What a bus message carries beside the notification (subject, headers), kept free of the largest message. */
const ENVELOPE_BYTES = 16 * 1024;

/**
 * `n` as messages of at most `maxBytes` each: whole when it fits, else its alerts split in order over parts
 * `<id>-1`, `<id>-2`, … each with the group's labels. A storm of thousands of alerts in one group made a message past
 * NATS' largest, refused at once and retried as a flaky receiver's until the dashboard's breaker opened.
 */
export function dashboardParts(n: Notification, maxBytes: number): Notification[] {
  const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
  if (size(n) <= maxBytes) return [n];
  const base = size({ ...n, id: `${n.id}-000000`, alerts: [] });
  const parts: Notification['alerts'][] = [];
  let current: Notification['alerts'] = [];
  let bytes = base;
  for (const alert of n.alerts) {
    const alertBytes = size(alert) + 1;
    if (base + alertBytes > maxBytes) throw new DeliveryError('dashboard', `alert ${alert.id} alone is larger than the ${maxBytes} bytes a dashboard message may be`, { retryable: false });
    if (current.length > 0 && bytes + alertBytes > maxBytes) {
      parts.push(current);
      current = [];
      bytes = base;
    }
    current.push(alert);
    bytes += alertBytes;
  }
  parts.push(current);
  return parts.map((alerts, i) => ({ ...n, id: `${n.id}-${i + 1}`, alerts }));
}

/** Delivers notifications to the dashboard through an injected publish function, so this channel knows nothing of NATS. */
export class DashboardChannel implements Channel {
  readonly name = 'dashboard' as const;

  constructor(
    private readonly publish: PublishDashboard,
    /** The largest message the bus takes (the server's max_payload). */
    private readonly maxMessageBytes = DEFAULT_MAX_BYTES,
  ) {}

  /** Publishes the notification, in parts when it is larger than a message may be; a failure is retryable unless the publisher said otherwise. */
  async send(n: Notification): Promise<void> {
    const parts = dashboardParts(n, this.maxMessageBytes - ENVELOPE_BYTES);
    try {
      for (const part of parts) await this.publish(part);
    } catch (err) {
      if (err instanceof DeliveryError) throw err;
      throw new DeliveryError(this.name, 'dashboard publish failed', { retryable: true, cause: err });
    }
  }
}
