import type { Alert, Notification } from '@terminusa/alerting';
import type { Config } from '@terminusa/config';
import type { Channel } from './channel.ts';
import { DEFAULT_HTTP_TIMEOUT_MS, postJson } from './post-json.ts';
import { formatLabels, notificationTitle } from './render-notification.ts';

/** Settings of the Slack channel (`alerts.channels.slack`). */
export type SlackSettings = NonNullable<Config['alerts']['channels']['slack']>;

/** A Block Kit text object. */
export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
}

/** The Block Kit blocks this channel sends. */
export type SlackBlock = { type: 'header'; text: SlackText } | { type: 'section'; text: SlackText } | { type: 'context'; elements: SlackText[] };

/** The body POSTed to a Slack incoming webhook: `text` is the fallback shown in pop-ups, `blocks` the message. */
export interface SlackMessage {
  channel?: string;
  text: string;
  blocks: SlackBlock[];
}

/** Alerts shown one by one; Slack allows 50 blocks per message and each alert takes two. */
export const MAX_SLACK_ALERTS = 20;

// Block Kit's limits on text lengths; a longer text makes Slack refuse the whole message with a 400.
const HEADER_MAX = 150;
const TEXT_MAX = 3000;

const SEVERITY_ICON: Record<Alert['severity'], string> = { critical: ':red_circle:', warning: ':large_orange_circle:', info: ':large_blue_circle:' };

/** Delivers notifications to a Slack incoming webhook as Block Kit messages. */
export class SlackChannel implements Channel {
  readonly name = 'slack' as const;
  readonly timeoutMs: number;
  // A private field, so the webhook URL (a credential) does not show when the channel is logged or serialized.
  readonly #webhookUrl: string;
  readonly #slackChannel: string | undefined;

  constructor(settings: Pick<SlackSettings, 'webhookUrl'> & { channel?: string }, options: { timeoutMs?: number } = {}) {
    this.#webhookUrl = settings.webhookUrl;
    this.#slackChannel = settings.channel;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  }

  /** POSTs the notification's Block Kit message to the webhook. */
  async send(n: Notification): Promise<void> {
    await postJson({
      channel: this.name,
      receiver: 'slack webhook',
      url: this.#webhookUrl,
      body: JSON.stringify(slackMessage(n, this.#slackChannel)),
      timeoutMs: this.timeoutMs,
    });
  }
}

/** Builds the Block Kit message of a notification: a header, then a section and a label context per alert. */
export function slackMessage(n: Notification, channel?: string): SlackMessage {
  const title = notificationTitle(n);
  const blocks: SlackBlock[] = [{ type: 'header', text: { type: 'plain_text', text: truncate(title, HEADER_MAX) } }];
  if (n.repeat) blocks.push({ type: 'context', elements: [mrkdwn('Repeated: still firing and not acknowledged.')] });
  for (const a of n.alerts.slice(0, MAX_SLACK_ALERTS)) {
    blocks.push({ type: 'section', text: mrkdwn(alertText(a)) });
    const labels = formatLabels(a.labels);
    if (labels) blocks.push({ type: 'context', elements: [mrkdwn(escapeMrkdwn(labels))] });
  }
  const more = n.alerts.length - MAX_SLACK_ALERTS;
  if (more > 0) blocks.push({ type: 'section', text: mrkdwn(`…and ${more} more`) });
  const message: SlackMessage = { text: escapeMrkdwn(title), blocks };
  if (channel) message.channel = channel;
  return message;
}

function alertText(a: Alert): string {
  const icon = a.state === 'resolved' ? ':large_green_circle:' : SEVERITY_ICON[a.severity];
  const lines = [
    `${icon} *${a.severity.toUpperCase()}* · ${a.state}`,
    `*${escapeMrkdwn(a.summary)}*`,
    escapeMrkdwn(a.message),
    `*Value:* ${a.value}   *Since:* ${slackDate(a.startsAt)}`,
  ];
  if (a.ack) lines.push(`_Acknowledged by ${escapeMrkdwn(a.ack.by)}${a.ack.comment ? `: ${escapeMrkdwn(a.ack.comment)}` : ''}_`);
  return lines.join('\n');
}

function mrkdwn(text: string): SlackText {
  return { type: 'mrkdwn', text: truncate(text, TEXT_MAX) };
}

/** Slack shows the date in the reader's time zone and falls back to the ISO time. */
function slackDate(epochMs: number): string {
  return `<!date^${Math.floor(epochMs / 1000)}^{date_short_pretty} {time_secs}|${new Date(epochMs).toISOString()}>`;
}

// Slack's mrkdwn gives &, < and > a meaning (links, mentions), so text from rules and labels is escaped.
function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
