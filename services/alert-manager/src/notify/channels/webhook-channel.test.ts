import { createHmac, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestReceiver, type TestReceiver } from '@terminusa/testkit';
import { testNotification, failure } from '../../../test-support/test-notifications.ts';
import { WebhookChannel, type WebhookPayload } from './webhook-channel.ts';

const SECRET = 'hmac-secret-0123456789abcdef';
const URL_TOKEN = 'URLTOKEN42';

let receiver: TestReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

// Generous, so a stall on a busy machine still gets the receiver's answer; only sends to a hanging receiver use HANG_TIMEOUT_MS.
const TIMEOUT_MS = 5_000;
const HANG_TIMEOUT_MS = 300;

function webhookChannel(to: TestReceiver, timeoutMs: number): WebhookChannel {
  return new WebhookChannel({ url: `${to.url}/hooks/tmon?token=${URL_TOKEN}`, secret: SECRET }, { timeoutMs });
}

async function webhookTo(...answers: Array<number | 'hang'>): Promise<{ receiver: TestReceiver; channel: WebhookChannel; hangChannel: WebhookChannel }> {
  receiver = await startTestReceiver(...answers);
  return { receiver, channel: webhookChannel(receiver, TIMEOUT_MS), hangChannel: webhookChannel(receiver, HANG_TIMEOUT_MS) };
}

describe('WebhookChannel', () => {
  it('POSTs the versioned notification with a verifiable HMAC of timestamp and body, and the idempotency key', async () => {
    const { receiver, channel } = await webhookTo(204);
    const n = testNotification(2);
    const before = Date.now();
    await channel.send(n);
    const req = receiver.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['idempotency-key']).toBe(n.id);
    expect(JSON.parse(req.body) as WebhookPayload).toEqual({ version: '1', notification: n });

    const timestamp = req.headers['x-tmon-timestamp'] as string;
    expect(Number(timestamp)).toBeGreaterThanOrEqual(before);
    expect(Number(timestamp)).toBeLessThanOrEqual(Date.now());
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${req.body}`).digest('hex')}`;
    const got = req.headers['x-tmon-signature'] as string;
    expect(got).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(timingSafeEqual(Buffer.from(got), Buffer.from(expected))).toBe(true);
  });

  it('keeps the idempotency key across retries of the same notification', async () => {
    const { receiver, channel } = await webhookTo(503, 200);
    const n = testNotification();
    await failure(channel.send(n));
    await channel.send(n);
    expect(receiver.requests.map((r) => r.headers['idempotency-key'])).toEqual([n.id, n.id]);
  });

  it('retries after a 500, not after a 400, and times out a receiver that never answers', async () => {
    const { channel, hangChannel } = await webhookTo(500, 400, 'hang');
    const first = await failure(channel.send(testNotification()));
    expect([first.retryable, first.status, first.message]).toEqual([true, 500, 'webhook receiver answered 500']);
    const second = await failure(channel.send(testNotification()));
    expect([second.retryable, second.status]).toEqual([false, 400]);
    const third = await failure(hangChannel.send(testNotification()));
    expect([third.retryable, third.status, third.message]).toEqual([true, undefined, 'webhook receiver did not answer within 300 ms']);
  });

  it('never puts the secret or the URL in an error', async () => {
    const { receiver, channel, hangChannel } = await webhookTo(500, 401, 'hang');
    const errors = [await failure(channel.send(testNotification())), await failure(channel.send(testNotification())), await failure(hangChannel.send(testNotification()))];
    expect(errors.map((e) => e.message)).toEqual(['webhook receiver answered 500', 'webhook receiver answered 401', 'webhook receiver did not answer within 300 ms']);
    await receiver.close();
    errors.push(await failure(channel.send(testNotification())));
    expect(errors[3]!.retryable).toBe(true);
    for (const err of errors) {
      for (const secret of [SECRET, URL_TOKEN, receiver.url]) {
        expect(err.message).not.toContain(secret);
        expect(inspect(err, { depth: 5 })).not.toContain(secret);
      }
    }
    for (const c of [channel, hangChannel]) expect(inspect(c, { depth: 5 })).not.toContain(SECRET);
  });
});
