import type { Alert, Notification } from '@terminusa/alerting';

/** A notification written out for people: a title, a plain-text body and an HTML body. */
export interface RenderedNotification {
  title: string;
  text: string;
  html: string;
}

/** Title in Alertmanager's form: `[FIRING:3] HighCpu` or `[RESOLVED] HighCpu`, named by the group labels. */
export function notificationTitle(n: Notification): string {
  const name = groupName(n);
  if (n.status === 'resolved') return `[RESOLVED] ${name}`;
  return `[FIRING:${n.alerts.filter((a) => a.state !== 'resolved').length}] ${name}`;
}

/** The fields shown for one alert, in order, as label and plain-text value. */
export function alertFields(a: Alert): Array<[label: string, value: string]> {
  const fields: Array<[string, string]> = [
    ['Severity', a.severity],
    ['Status', a.state],
    ['Summary', a.summary],
    ['Message', a.message],
    ['Value', String(a.value)],
    ['Started', isoTime(a.startsAt)],
  ];
  if (a.resolvedAt !== undefined) fields.push(['Resolved', isoTime(a.resolvedAt)]);
  fields.push(['Labels', formatLabels(a.labels)]);
  if (a.ack) fields.push(['Acknowledged', `by ${a.ack.by} at ${isoTime(a.ack.at)}${a.ack.comment ? `: ${a.ack.comment}` : ''}`]);
  return fields;
}

/** Labels as `key=value` pairs sorted by key, so the same alert always reads the same. */
export function formatLabels(labels: Record<string, string>): string {
  return sortedPairs(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** Renders a notification as a title, plain text and HTML (every value escaped). */
export function renderNotification(n: Notification): RenderedNotification {
  const title = notificationTitle(n);
  return { title, text: renderText(n, title), html: renderHtml(n, title) };
}

const REPEAT_NOTE = 'Repeated: the alert is still firing and nobody has acknowledged it.';

function renderText(n: Notification, title: string): string {
  const lines = [title];
  if (n.repeat) lines.push(REPEAT_NOTE);
  n.alerts.forEach((a, i) => {
    lines.push('', `Alert ${i + 1} of ${n.alerts.length}`);
    // Continuation lines are indented so a multi-line message stays inside its field.
    for (const [label, value] of alertFields(a)) lines.push(`  ${label}: ${value.replace(/\r?\n/g, '\n    ')}`);
  });
  return `${lines.join('\n')}\n`;
}

function renderHtml(n: Notification, title: string): string {
  const alerts = n.alerts.map((a, i) => {
    const rows = alertFields(a)
      .map(([label, value]) => `<tr><th align="left" valign="top">${escapeHtml(label)}</th><td>${escapeHtml(value).replace(/\r?\n/g, '<br>')}</td></tr>`)
      .join('');
    return `<h3>Alert ${i + 1} of ${n.alerts.length}</h3><table cellpadding="4">${rows}</table>`;
  });
  const repeat = n.repeat ? `<p><em>${escapeHtml(REPEAT_NOTE)}</em></p>` : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h2>${escapeHtml(title)}</h2>${repeat}${alerts.join('')}</body></html>`;
}

function groupName(n: Notification): string {
  const fromGroup = sortedPairs(n.groupLabels)
    .map(([, v]) => v)
    .join(' ');
  return fromGroup || n.alerts[0]?.labels.alertname || n.alerts[0]?.rule || 'alert';
}

function sortedPairs(labels: Record<string, string>): Array<[string, string]> {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}
