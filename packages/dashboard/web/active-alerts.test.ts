import { describe, expect, it } from 'vitest';
import { ActiveAlerts } from './active-alerts.ts';
import type { ApiClient } from './api-client.ts';
import type { Alert, AlertTransition } from './api-types.ts';
import type { LiveSocket } from './live-socket.ts';

const alert = (id: string): Alert => ({ id, rule: 'Hot', severity: 'critical', state: 'firing', labels: { host: id }, value: 1, summary: '', message: '', startsAt: 0, channels: [] });
const event = (kind: AlertTransition['kind'], a: Alert): AlertTransition => ({ kind, seq: 1, at: 0, alert: a });

/** An ActiveAlerts on a live stream and an API whose answers the test hands over when it wants. */
function harness() {
  let send: (e: AlertTransition) => void = () => undefined;
  let status: (s: string) => void = () => undefined;
  const answers: ((alerts: Alert[]) => void)[] = [];
  const live = { subscribeAlerts: (cb: typeof send) => ((send = cb), () => undefined), onStatus: (cb: typeof status) => ((status = cb), () => undefined) } as unknown as LiveSocket;
  const api = { get: () => new Promise((resolve) => answers.push((alerts) => resolve({ alerts }))) } as unknown as ApiClient;
  const active = new ActiveAlerts(api, live);
  return { active, send: (e: AlertTransition) => send(e), reconnected: () => status('live'), answer: (alerts: Alert[]) => answers.shift()!(alerts), pending: () => answers.length };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('ActiveAlerts', () => {
  it('does not bring back an alert resolved while the first list was being read', async () => {
    const h = harness();
    const started = h.active.start();
    await settle();
    h.send(event('resolved', alert('x')));
    h.answer([alert('x'), alert('y')]);
    await started;
    expect(h.active.list.map((a) => a.id)).toEqual(['y']);
  });

  it('keeps an alert that fired while the list was read again after a reconnect', async () => {
    const h = harness();
    const started = h.active.start();
    await settle();
    h.answer([alert('x')]);
    await started;
    h.reconnected();
    await settle();
    expect(h.pending()).toBe(1);
    h.send(event('firing', alert('new')));
    h.answer([alert('x')]);
    await settle();
    expect(h.active.list.map((a) => a.id).sort()).toEqual(['new', 'x']);
  });
});
