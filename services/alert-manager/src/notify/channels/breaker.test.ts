import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestReceiver, waitFor, type TestReceiver } from '@terminusa/testkit';
import { testNotification, failure } from '../../../test-support/test-notifications.ts';
import { BreakerChannel } from './breaker.ts';
import { WebhookChannel } from './webhook-channel.ts';

// Long enough that a stall between two sends on a busy machine does not move an open breaker to half-open.
const RESET_MS = 2_000;

let receiver: TestReceiver | undefined;
let breaker: BreakerChannel | undefined;
afterEach(async () => {
  breaker?.shutdown();
  await receiver?.close();
  receiver = breaker = undefined;
});

async function breakerTo(...answers: Array<number | 'hang'>): Promise<{ receiver: TestReceiver; breaker: BreakerChannel; registry: Registry }> {
  receiver = await startTestReceiver(...answers);
  const registry = new Registry();
  const webhook = new WebhookChannel({ url: `${receiver.url}/hook`, secret: 'breaker-test-secret-0123' }, { timeoutMs: 5_000 });
  breaker = new BreakerChannel(webhook, { registry, resetTimeoutMs: RESET_MS });
  return { receiver, breaker, registry };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value;
}

describe('BreakerChannel', () => {
  it('opens after 3 failures, rejects fast without calling the receiver, and closes after a good trial', async () => {
    const { receiver, breaker, registry } = await breakerTo(500);
    const state = () => metricValue(registry, 'tmon_alert_channel_breaker_state', { channel: 'webhook' });
    expect(await state()).toBe(0);

    let opening = 0;
    for (let i = 0; i < 3; i++) {
      opening = Date.now();
      const err = await failure(breaker.send(testNotification()));
      expect([err.retryable, err.status]).toEqual([true, 500]);
    }
    expect(breaker.state).toBe('open');
    expect(await state()).toBe(2);

    // The receiver's request count below proves the rejection did not call it.
    const rejected = await failure(breaker.send(testNotification()));
    expect(rejected.message).toBe('circuit open for webhook');
    expect(rejected.retryable).toBe(true);
    expect(receiver.requests).toHaveLength(3);

    receiver.answer(200);
    await waitFor(async () => ((await state()) === 1 ? true : undefined), RESET_MS + 10_000, 'the breaker half-open', 10);
    expect(Date.now() - opening).toBeGreaterThanOrEqual(RESET_MS);
    await breaker.send(testNotification());
    expect(breaker.state).toBe('closed');
    expect(await state()).toBe(0);
    expect(receiver.requests).toHaveLength(4);

    const deliveries = (outcome: string) => metricValue(registry, 'tmon_alert_channel_deliveries_total', { channel: 'webhook', outcome });
    expect(await deliveries('failed_retryable')).toBe(3);
    expect(await deliveries('circuit_open')).toBe(1);
    expect(await deliveries('delivered')).toBe(1);
  });

  it('opens again when the half-open trial fails', async () => {
    const { breaker, registry } = await breakerTo(500);
    let opening = 0;
    for (let i = 0; i < 3; i++) {
      opening = Date.now();
      await failure(breaker.send(testNotification()));
    }
    expect(breaker.state).toBe('open');
    await waitFor(() => (breaker.state === 'half-open' ? true : undefined), RESET_MS + 10_000, 'the breaker half-open', 10);
    expect(Date.now() - opening).toBeGreaterThanOrEqual(RESET_MS);
    const trial = await failure(breaker.send(testNotification()));
    expect(trial.status).toBe(500);
    expect(breaker.state).toBe('open');
    expect(await metricValue(registry, 'tmon_alert_channel_breaker_state', { channel: 'webhook' })).toBe(2);
  });

  it('passes a permanent failure on unchanged and counts it as such', async () => {
    const { breaker, registry } = await breakerTo(400);
    const err = await failure(breaker.send(testNotification()));
    expect([err.retryable, err.status, err.message]).toEqual([false, 400, 'webhook receiver answered 400']);
    expect(await metricValue(registry, 'tmon_alert_channel_deliveries_total', { channel: 'webhook', outcome: 'failed_permanent' })).toBe(1);
  });
});
