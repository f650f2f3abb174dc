import { expect } from 'vitest';
import type { Alert, Notification } from '@terminusa/alerting';
import { DeliveryError } from '../src/notify/channels/channel.ts';

const STARTS_AT = Date.UTC(2026, 0, 15, 9, 30, 0);

/** A firing alert for the channel tests, with any field overridden. */
export function testAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'a-1',
    rule: 'HighCpu',
    severity: 'critical',
    state: 'firing',
    labels: { alertname: 'HighCpu', host: 'web-1' },
    value: 97.5,
    summary: 'CPU above 90% on web-1',
    message: 'cpu_usage is 97.5 on web-1',
    startsAt: STARTS_AT,
    firedAt: STARTS_AT + 60_000,
    channels: ['slack', 'email', 'webhook'],
    ...overrides,
  };
}

/** A notification of `count` firing alerts grouped by alertname, for the channel tests. */
export function testNotification(count = 1, overrides: Partial<Notification> = {}): Notification {
  return {
    id: 'n-HighCpu-1',
    status: 'firing',
    repeat: false,
    groupLabels: { alertname: 'HighCpu' },
    alerts: Array.from({ length: count }, (_, i) =>
      testAlert({ id: `a-${i + 1}`, labels: { alertname: 'HighCpu', host: `web-${i + 1}` }, summary: `CPU above 90% on web-${i + 1}` }),
    ),
    ...overrides,
  };
}

/** The DeliveryError a send rejects with (fails the test when it resolves or rejects with anything else). */
export async function failure(p: Promise<unknown>): Promise<DeliveryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}
