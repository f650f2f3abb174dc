import { describe, expect, it } from 'vitest';
import { notificationTitle, renderNotification } from './render-notification.ts';
import { testAlert, testNotification } from '../../../test-support/test-notifications.ts';

describe('renderNotification', () => {
  it('titles a firing group with its count of firing alerts and a resolved one without', () => {
    expect(notificationTitle(testNotification(3))).toBe('[FIRING:3] HighCpu');
    const resolved = testNotification(2, { status: 'resolved' });
    resolved.alerts = resolved.alerts.map((a) => ({ ...a, state: 'resolved', resolvedAt: a.startsAt + 600_000 }));
    expect(notificationTitle(resolved)).toBe('[RESOLVED] HighCpu');
  });

  it('names the group by its label values sorted by key, or the alert name when there are none', () => {
    expect(notificationTitle(testNotification(1, { groupLabels: { region: 'eu', alertname: 'HighCpu' } }))).toBe('[FIRING:1] HighCpu eu');
    expect(notificationTitle(testNotification(1, { groupLabels: {} }))).toBe('[FIRING:1] HighCpu');
  });

  it('writes every field of each alert in the plain text', () => {
    const n = testNotification(1, { repeat: true });
    n.alerts[0] = testAlert({ ack: { by: 'alice', comment: 'looking', at: Date.UTC(2026, 0, 15, 9, 45) } });
    const { text } = renderNotification(n);
    expect(text).toContain('[FIRING:1] HighCpu');
    expect(text).toContain('Repeated');
    for (const part of ['Severity: critical', 'Summary: CPU above 90% on web-1', 'Message: cpu_usage is 97.5 on web-1', 'Value: 97.5', 'Started: 2026-01-15T09:30:00.000Z', 'Labels: alertname=HighCpu, host=web-1', 'Acknowledged: by alice at 2026-01-15T09:45:00.000Z: looking']) {
      expect(text).toContain(part);
    }
  });

  it('escapes everything in the HTML', () => {
    const n = testNotification(1, { groupLabels: { alertname: '<b>x</b>' } });
    n.alerts[0] = testAlert({ summary: 'latency > 500 & "rising"', message: "<script>alert('x')</script>", labels: { path: '/a?b=<c>' } });
    const { html } = renderNotification(n);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>x</b>');
    expect(html).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(html).toContain('latency &gt; 500 &amp; &quot;rising&quot;');
    expect(html).toContain('&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;');
    expect(html).toContain('path=/a?b=&lt;c&gt;');
  });
});
