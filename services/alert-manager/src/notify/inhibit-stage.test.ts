import { describe, expect, it } from 'vitest';
import type { Alert } from '@terminusa/alerting';
import { inhibitedBy } from './inhibit-stage.ts';

const alert = (id: string, severity: Alert['severity'], state: Alert['state'], labels: Record<string, string>): Alert => ({
  id, rule: id, severity, state, labels, value: 1, summary: '', message: '', startsAt: 0, channels: [],
});

describe('inhibitedBy', () => {
  const critical = alert('c', 'critical', 'firing', { host: 'h1', dc: 'eu' });
  it('inhibits a warning sharing every equal label with a firing critical', () => {
    expect(inhibitedBy(alert('w', 'warning', 'firing', { host: 'h1', dc: 'eu' }), [critical], ['host', 'dc'])?.id).toBe('c');
  });
  it('does not inhibit when a label differs or is missing on either side, nor a critical, nor by a pending critical', () => {
    expect(inhibitedBy(alert('w', 'warning', 'firing', { host: 'h2', dc: 'eu' }), [critical], ['host'])).toBeUndefined();
    expect(inhibitedBy(alert('w', 'info', 'firing', { dc: 'eu' }), [critical], ['host'])).toBeUndefined();
    expect(inhibitedBy(alert('x', 'critical', 'firing', { host: 'h1' }), [critical], ['host'])).toBeUndefined();
    expect(inhibitedBy(alert('w', 'warning', 'firing', { host: 'h1' }), [alert('p', 'critical', 'pending', { host: 'h1' })], ['host'])).toBeUndefined();
    expect(inhibitedBy(alert('w', 'warning', 'firing', { host: 'h1' }), [critical], [])).toBeUndefined();
  });
});
