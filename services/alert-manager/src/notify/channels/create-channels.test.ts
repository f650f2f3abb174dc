import { ConfigSchema } from '@terminusa/config';
import type { Notification } from '@terminusa/alerting';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DeliveryError } from './channel.ts';
import { createChannels } from './create-channels.ts';
import { DashboardChannel } from './dashboard-channel.ts';
import { testNotification } from '../../../test-support/test-notifications.ts';

function channelSettings(channels: unknown) {
  return ConfigSchema.parse({ alerts: { channels } }).alerts.channels;
}

describe('createChannels', () => {
  it('builds a breaker-wrapped channel for each configured channel', async () => {
    const registry = new Registry();
    const published: Notification[] = [];
    const channels = createChannels(
      channelSettings({
        slack: { webhookUrl: 'http://127.0.0.1:9/services/T/B/X' },
        email: { to: ['oncall@example.com'] },
        webhook: { url: 'http://127.0.0.1:9/hook', secret: 'webhook-secret-0123456789' },
      }),
      { registry, publishDashboard: async (n) => void published.push(n), resetTimeoutMs: 300 },
    );
    try {
      expect([...channels.keys()].sort()).toEqual(['dashboard', 'email', 'slack', 'webhook']);
      expect([...channels.values()].map((c) => c.state)).toEqual(['closed', 'closed', 'closed', 'closed']);
      await channels.get('dashboard')!.send(testNotification());
      expect(published.map((n) => n.id)).toEqual(['n-HighCpu-1']);
      const metrics = await registry.getMetricsAsJSON();
      const state = metrics.find((m) => m.name === 'tmon_alert_channel_breaker_state')!;
      expect(state.values.map((v) => v.labels.channel).sort()).toEqual(['dashboard', 'email', 'slack', 'webhook']);
    } finally {
      for (const c of channels.values()) c.shutdown();
    }
  });

  it('leaves out the dashboard when it is disabled or nothing publishes it', () => {
    const registry = new Registry();
    const publishDashboard = async () => undefined;
    expect([...createChannels(channelSettings({}), { registry }).keys()]).toEqual([]);
    expect([...createChannels(channelSettings({ dashboard: { enabled: false } }), { registry, publishDashboard }).keys()]).toEqual([]);
    const withDashboard = createChannels(channelSettings({}), { registry, publishDashboard });
    expect([...withDashboard.keys()]).toEqual(['dashboard']);
    withDashboard.get('dashboard')!.shutdown();
  });
});

describe('DashboardChannel', () => {
  it('turns a failed publish into a retryable DeliveryError that keeps the cause', async () => {
    const cause = new Error('no responders');
    const err = await new DashboardChannel(() => Promise.reject(cause)).send(testNotification()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).retryable).toBe(true);
    expect((err as DeliveryError).cause).toBe(cause);
  });

  it('publishes a notification larger than a message may be in parts of whole alerts, in order, none past the limit', async () => {
    const published: Notification[] = [];
    const storm = testNotification(3000);
    await new DashboardChannel(async (n) => void published.push(n), 64 * 1024).send(storm);
    expect(published.length).toBeGreaterThan(1);
    expect(published.map((p) => p.id)).toEqual(published.map((_, i) => `${storm.id}-${i + 1}`));
    expect(published.flatMap((p) => p.alerts)).toEqual(storm.alerts);
    for (const part of published) {
      expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThanOrEqual(48 * 1024);
      expect(part).toMatchObject({ status: storm.status, repeat: storm.repeat, groupLabels: storm.groupLabels });
    }
    // One that fits goes whole, under its own id.
    published.length = 0;
    await new DashboardChannel(async (n) => void published.push(n), 64 * 1024).send(testNotification(3));
    expect(published.map((p) => p.id)).toEqual(['n-HighCpu-1']);
  });
});
