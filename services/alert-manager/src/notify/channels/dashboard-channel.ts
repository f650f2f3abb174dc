import type { Notification } from '@terminusa/alerting';
import { DeliveryError, type Channel } from './channel.ts';

/** Hands a notification to the dashboard's feed; the service wires it to the bus. */
export type PublishDashboard = (n: Notification) => Promise<void>;

/** Delivers notifications to the dashboard through an injected publish function, so this channel knows nothing of NATS. */
export class DashboardChannel implements Channel {
  readonly name = 'dashboard' as const;

  constructor(private readonly publish: PublishDashboard) {}

  /** Publishes the notification; a failure is retryable unless the publisher said otherwise. */
  async send(n: Notification): Promise<void> {
    try {
      await this.publish(n);
    } catch (err) {
      if (err instanceof DeliveryError) throw err;
      throw new DeliveryError(this.name, 'dashboard publish failed', { retryable: true, cause: err });
    }
  }
}
