import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestReceiver, type TestReceiver } from '@terminusa/testkit';
import { MAX_SLACK_ALERTS, SlackChannel, type SlackMessage } from './slack-channel.ts';
import { testNotification, failure } from '../../../test-support/test-notifications.ts';

const SECRET_PATH = '/services/T000/B000/SECRETTOKEN';

let receiver: TestReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

// Generous, so a stall on a busy machine still gets the receiver's answer; only sends to a hanging receiver use HANG_TIMEOUT_MS.
const TIMEOUT_MS = 5_000;
const HANG_TIMEOUT_MS = 300;

function slackChannel(to: TestReceiver, timeoutMs: number): SlackChannel {
  return new SlackChannel({ webhookUrl: `${to.url}${SECRET_PATH}`, channel: '#ops' }, { timeoutMs });
}

async function slackTo(...answers: Array<number | 'hang'>): Promise<{ receiver: TestReceiver; channel: SlackChannel; hangChannel: SlackChannel }> {
  receiver = await startTestReceiver(...answers);
  return { receiver, channel: slackChannel(receiver, TIMEOUT_MS), hangChannel: slackChannel(receiver, HANG_TIMEOUT_MS) };
}

describe('SlackChannel', () => {
  it('POSTs a Block Kit message: fallback text, header, a section and a label context per alert', async () => {
    const { receiver, channel } = await slackTo(200);
    await channel.send(testNotification(2));
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(SECRET_PATH);
    expect(req.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req.body) as SlackMessage;
    expect(body.channel).toBe('#ops');
    expect(body.text).toBe('[FIRING:2] HighCpu');
    expect(body.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '[FIRING:2] HighCpu' } });
    expect(body.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context', 'section', 'context']);
    const section = body.blocks[1]!;
    expect(section.type === 'section' && section.text.type).toBe('mrkdwn');
    expect(section.type === 'section' && section.text.text).toContain('*CPU above 90% on web-1*');
    expect(body.blocks[2]).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: 'alertname=HighCpu, host=web-1' }] });
  });

  it(`shows at most ${MAX_SLACK_ALERTS} alerts, then how many more`, async () => {
    const { receiver, channel } = await slackTo(200);
    await channel.send(testNotification(MAX_SLACK_ALERTS + 5));
    const body = JSON.parse(receiver.requests[0]!.body) as SlackMessage;
    expect(body.blocks.filter((b) => b.type === 'section')).toHaveLength(MAX_SLACK_ALERTS + 1);
    expect(body.blocks.length).toBeLessThanOrEqual(50);
    expect(body.blocks.at(-1)).toEqual({ type: 'section', text: { type: 'mrkdwn', text: '…and 5 more' } });
  });

  it('escapes &, < and > in alert text', async () => {
    const { receiver, channel } = await slackTo(200);
    const n = testNotification(1);
    n.alerts[0]!.summary = 'p99 > 500ms <!channel> & rising';
    await channel.send(n);
    expect(receiver.requests[0]!.body).toContain('p99 &gt; 500ms &lt;!channel&gt; &amp; rising');
  });

  it('throws a retryable DeliveryError on a 500 and succeeds on the next answer, a 200', async () => {
    const { receiver, channel } = await slackTo(500, 200);
    const err = await failure(channel.send(testNotification()));
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(500);
    expect(err.message).toBe('slack webhook answered 500');
    await channel.send(testNotification());
    expect(receiver.requests).toHaveLength(2);
  });

  it('retries a 429 but not a 400', async () => {
    const { channel } = await slackTo(429, 400);
    expect((await failure(channel.send(testNotification()))).retryable).toBe(true);
    const err = await failure(channel.send(testNotification()));
    expect(err.retryable).toBe(false);
    expect(err.status).toBe(400);
  });

  it('gives up on a receiver that never answers after timeoutMs, as retryable', async () => {
    const { hangChannel } = await slackTo('hang');
    const started = Date.now();
    const err = await failure(hangChannel.send(testNotification()));
    // Well above HANG_TIMEOUT_MS for a busy machine, yet below the 5000 ms default: the given timeout is the one used.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('slack webhook did not answer within 300 ms');
  });

  it('never puts the webhook URL in an error, nor in the logged channel', async () => {
    const { receiver, channel, hangChannel } = await slackTo(500, 404, 'hang');
    const errors = [await failure(channel.send(testNotification())), await failure(channel.send(testNotification())), await failure(hangChannel.send(testNotification()))];
    expect(errors.map((e) => e.message)).toEqual(['slack webhook answered 500', 'slack webhook answered 404', 'slack webhook did not answer within 300 ms']);
    await receiver.close();
    const unreachable = await failure(channel.send(testNotification()));
    expect(unreachable.retryable).toBe(true);
    for (const err of [...errors, unreachable]) {
      expect(err.message).not.toContain('SECRETTOKEN');
      expect(err.message).not.toContain(receiver.url);
      expect(inspect(err, { depth: 5 })).not.toContain('SECRETTOKEN');
    }
    for (const c of [channel, hangChannel]) {
      expect(inspect(c, { depth: 5 })).not.toContain('SECRETTOKEN');
      expect(JSON.stringify(c)).not.toContain('SECRETTOKEN');
    }
  });
});
