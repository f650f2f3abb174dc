import { z } from 'zod';
import { describeIssues, SEVERITIES, type Severity } from '@terminusa/bus';
import { prometheusDurationMs } from '@terminusa/config';

/** A Prometheus rule file: `groups: [{name, interval, rules: [...]}]`. */
export const PrometheusRuleFileSchema = z.strictObject({
  groups: z.array(
    z.strictObject({
      name: z.string().min(1),
      interval: z.string().optional(),
      limit: z.number().int().nonnegative().optional(),
      query_offset: z.string().optional(),
      rules: z.array(z.unknown()),
    }),
  ),
});

const Labels = z.record(z.string(), z.string());
const AlertingRule = z.strictObject({
  alert: z.string().min(1),
  expr: z.string(),
  for: z.string().optional(),
  keep_firing_for: z.string().optional(),
  labels: Labels.optional(),
  annotations: Labels.optional(),
});
const RecordingRule = z.strictObject({ record: z.string().min(1), expr: z.string(), labels: Labels.optional() });

/** A Prometheus duration (`1h30m`, `90s`, `0s`) in ms, as our rules write it (`5400000ms`); undefined when it is not one. */
export function prometheusDuration(text: string): string | undefined {
  const ms = prometheusDurationMs(text);
  return ms === undefined ? undefined : `${ms}ms`;
}

/** One rule of a Prometheus file as the suite writes it, or the problems that keep it out. */
export type ConvertedRule = { ok: true; input: Record<string, unknown> } | { ok: false; rule: string; problems: { field: string; reason: string }[] };

/**
 * The rules of a Prometheus rule file in the suite's form, so they go through the same validation and storage as
 * the suite's own rules. An alert's severity is its `severity` label (warning when it has none we know), its
 * summary the `summary` annotation and its message the `description` followed by the other annotations; the group's interval is each rule's. Rule
 * names must be unique in the suite and an alert name need not be in Prometheus, so a repeated name gets `-2`,
 * `-3`…, while the `alertname` label keeps the name as written. Prometheus takes any text as an alert's name (`Instance
 * down`, `Disk.Full`); the suite's rule name is made of it ({@link alertRuleName}).
 */
export function fromPrometheusGroups(file: z.infer<typeof PrometheusRuleFileSchema>): ConvertedRule[] {
  const out: ConvertedRule[] = [];
  const seen = new Map<string, number>();
  const unique = (name: string) => {
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n === 1 ? name : `${name}-${n}`;
  };
  for (const group of file.groups) {
    // Settings that change what a group's rules say, which the suite does not apply: refused rather than ignored.
    const unsupported = [
      ...(group.limit ? [{ field: 'limit', reason: 'a limit on the alerts or series a rule may produce is not supported; remove it' }] : []),
      ...(group.query_offset !== undefined && prometheusDurationMs(group.query_offset) !== 0
        ? [{ field: 'query_offset', reason: 'evaluating a group at an offset is not supported; write `offset` into its expressions instead' }]
        : []),
    ];
    if (unsupported.length) {
      out.push({ ok: false, rule: group.name, problems: unsupported });
      continue;
    }
    const interval = group.interval === undefined ? undefined : prometheusDuration(group.interval);
    group.rules.forEach((raw, index) => {
      const where = `${group.name}[${index}]`;
      const duration = (field: string, text: string | undefined) => (text === undefined ? {} : { [field]: prometheusDuration(text) ?? text });
      const alerting = AlertingRule.safeParse(raw);
      if (alerting.success) {
        const { alert, expr, labels = {}, annotations = {} } = alerting.data;
        const severity: Severity = (SEVERITIES as readonly string[]).includes(labels.severity ?? '') ? (labels.severity as Severity) : 'warning';
        // Annotations other than these two (a runbook_url, a dashboard link) follow the description, one line each.
        const others = Object.entries(annotations).filter(([k]) => k !== 'summary' && k !== 'description');
        const message = [...(annotations.description ? [annotations.description] : []), ...others.map(([k, v]) => `${k}: ${v}`)].join('\n');
        out.push({
          ok: true,
          input: {
            name: unique(alertRuleName(alert)),
            type: 'promql',
            expr,
            ...duration('for', alerting.data.for),
            ...duration('keepFiringFor', alerting.data.keep_firing_for),
            ...(interval ? { interval } : group.interval ? { interval: group.interval } : {}),
            severity,
            labels: { ...labels, alertname: alert },
            ...(annotations.summary ? { summary: annotations.summary } : {}),
            ...(message ? { message } : {}),
          },
        });
        return;
      }
      const recording = RecordingRule.safeParse(raw);
      if (recording.success) {
        const { record, expr, labels = {} } = recording.data;
        out.push({ ok: true, input: { name: unique(record), type: 'record', record, expr, ...(interval ? { interval } : group.interval ? { interval: group.interval } : {}), labels } });
        return;
      }
      const isAlert = raw !== null && typeof raw === 'object' && 'alert' in raw;
      out.push({ ok: false, rule: where, problems: describeIssues((isAlert ? alerting : recording).error!).map((i) => ({ field: i.field, reason: i.reason })) });
    });
  }
  return out;
}

/** Longest rule name made of an alert's name, leaving room for a `-<n>` of a repeated one (rule names are at most 100). */
const MADE_NAME_LENGTH = 90;

/**
 * The suite's rule name for a Prometheus alert's name: characters other than letters, digits, `_` and `-` become `_`,
 * a name not starting with a letter gets `alert_` in front, and it is cut to 90 characters. The `alertname` label, which
 * notifications and silences see, keeps the name as written.
 */
export function alertRuleName(alert: string): string {
  const name = alert.replace(/[^A-Za-z0-9_-]/g, '_');
  return (/^[A-Za-z]/.test(name) ? name : `alert_${name}`).slice(0, MADE_NAME_LENGTH);
}
