import type { Registry } from 'prom-client';
import type { ChannelName } from '@terminusa/alerting';
import type { Config } from '@terminusa/config';
import { BreakerChannel } from './breaker.ts';
import type { Channel } from './channel.ts';
import { DashboardChannel, type PublishDashboard } from './dashboard-channel.ts';
import { EmailChannel } from './email-channel.ts';
import { SlackChannel } from './slack-channel.ts';
import { WebhookChannel } from './webhook-channel.ts';

/** The channel settings of the configuration (`alerts.channels`). */
export type ChannelSettings = Config['alerts']['channels'];

/** What createChannels needs besides the settings. */
export interface CreateChannelsOptions {
  /** Where dashboard notifications go; without it there is no dashboard channel. */
  publishDashboard?: PublishDashboard;
  /** The largest message publishDashboard's bus takes (NATS' max_payload; 1 MiB when unset). */
  dashboardMaxMessageBytes?: number;
  /** Registry of the breakers' metrics. */
  registry: Registry;
  resetTimeoutMs?: number;
}

/** Builds a breaker-wrapped channel for each configured channel (dashboard: when enabled and a publisher is given). */
export function createChannels(settings: ChannelSettings, options: CreateChannelsOptions): Map<ChannelName, BreakerChannel> {
  const inner: Array<Channel & { timeoutMs?: number }> = [];
  if (settings.slack) inner.push(new SlackChannel(settings.slack));
  if (settings.email) inner.push(new EmailChannel(settings.email));
  if (settings.webhook) inner.push(new WebhookChannel(settings.webhook));
  if (settings.dashboard.enabled && options.publishDashboard) inner.push(new DashboardChannel(options.publishDashboard, options.dashboardMaxMessageBytes));
  const breakerOptions = { registry: options.registry, resetTimeoutMs: options.resetTimeoutMs };
  return new Map(inner.map((channel) => [channel.name, new BreakerChannel(channel, breakerOptions)]));
}
