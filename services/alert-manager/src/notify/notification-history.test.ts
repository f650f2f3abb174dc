import { describe, expect, it } from 'vitest';
import type { Alert, Notification } from '@terminusa/alerting';
import type { OutboxEvent } from '../outbox/outbox-event.ts';
import { deliveryFailedEvent, notifiedEvent, suppressedEvent } from './notification-history.ts';

const alert: Alert = { id: 'a1', rule: 'Hot', severity: 'warning', state: 'firing', labels: { alertname: 'Hot' }, value: 1, summary: '', message: '', startsAt: 0, channels: ['webhook'] };
const event: OutboxEvent = { streamId: '1-0', stateKey: 'state:a1', seq: 4, kind: 'firing', from: 'pending', at: 0, alert, notified: [] };
const notification: Notification = { id: 'g-17', status: 'firing', repeat: true, groupLabels: { alertname: 'Hot' }, alerts: [alert, { ...alert, id: 'a2' }] };

describe('the history rows of the notification path', () => {
  it('name a suppression by the event and the reason, so a replayed event writes it once', () => {
    const row = suppressedEvent(event, 'silenced', { silence: 's1' }, 1000);
    expect(row).toEqual({ id: 'a1:4:silenced', alertId: 'a1', kind: 'silenced', at: 1000, detail: { silence: 's1' } });
    expect(suppressedEvent(event, 'silenced', { silence: 's1' }, 2000).id).toBe(row.id);
    expect(suppressedEvent(event, 'inhibited', { by: 'c1' }, 1000).id).toBe('a1:4:inhibited');
  });

  it('name a delivery and a final failure by alert, notification and channel', () => {
    expect(notifiedEvent(alert, notification, 'webhook', 1000)).toEqual({
      id: 'a1:g-17:webhook:notified',
      alertId: 'a1',
      kind: 'notified',
      at: 1000,
      detail: { channel: 'webhook', notification: 'g-17', status: 'firing', repeat: true, alerts: 2 },
    });
    expect(deliveryFailedEvent(alert, notification, 'slack', 'receiver answered 400', 1000)).toEqual({
      id: 'a1:g-17:slack:failed',
      alertId: 'a1',
      kind: 'delivery-failed',
      at: 1000,
      detail: { channel: 'slack', notification: 'g-17', error: 'receiver answered 400' },
    });
  });
});
