import { describe, expect, it } from 'vitest';
import { parseRulesFile, RulesFileError } from './parse-rules-file.ts';
import { renderTemplate } from './render-template.ts';

// A Prometheus rule file as teams keep them, loaded unchanged.
const PROMETHEUS_FILE = `
groups:
  - name: game
    interval: 30s
    rules:
      - record: job:game_requests:rate5m
        expr: sum by (job) (rate(game_requests_total[5m]))
      - alert: HighErrorRate
        expr: sum by (job) (rate(game_requests_total{code=~"5.."}[5m])) / sum by (job) (rate(game_requests_total[5m])) > 0.05
        for: 1h30m
        keep_firing_for: 5m
        labels: { severity: critical, team: backend }
        annotations:
          summary: "{{ $labels.job }} fails {{ $value | humanizePercentage }}"
          description: "Errors above 5% on {{ .Labels.job }}"
          runbook_url: https://runbooks.example.com/high-error-rate
  - name: fleet
    query_offset: 0s
    rules:
      - alert: HighErrorRate
        expr: up == 0
`;

describe('Prometheus rule files', () => {
  it('load alerting and recording rules in the suite form: group interval, severity label, annotations, durations', () => {
    const [record, alert, again] = parseRulesFile(PROMETHEUS_FILE, 'game.rules.yml');
    expect(record).toEqual({ name: 'job:game_requests:rate5m', type: 'record', record: 'job:game_requests:rate5m', expr: 'sum by (job) (rate(game_requests_total[5m]))', interval: 30_000, labels: {}, enabled: true });
    expect(alert).toMatchObject({
      name: 'HighErrorRate',
      type: 'promql',
      for: 5_400_000,
      keepFiringFor: 300_000,
      interval: 30_000,
      severity: 'critical',
      labels: { severity: 'critical', team: 'backend', alertname: 'HighErrorRate' },
      summary: '{{ $labels.job }} fails {{ $value | humanizePercentage }}',
      // The other annotations follow the description, so a runbook link reaches every notification.
      message: 'Errors above 5% on {{ .Labels.job }}\nrunbook_url: https://runbooks.example.com/high-error-rate',
    });
    // A repeated alert name is a second rule of the suite, still alerting as HighErrorRate; no group interval: 15 s.
    expect(again).toMatchObject({ name: 'HighErrorRate-2', severity: 'warning', interval: 15_000, labels: { alertname: 'HighErrorRate' } });
  });

  it('load alerts whose names Prometheus takes and rule names do not (spaces, dots, a digit first, 120 characters), keeping each as alertname', () => {
    const long = 'x'.repeat(120);
    const names = ['Instance down', 'Disk.Full', '5xx rate', long, 'Instance_down'];
    const text = `groups:\n  - name: odd\n    rules:\n${names.map((n) => `      - alert: "${n}"\n        expr: up == 0\n`).join('')}`;
    const rules = parseRulesFile(text, 'odd.yml');
    expect(rules.map((r) => [r.name, r.labels.alertname])).toEqual([
      ['Instance_down', 'Instance down'],
      ['Disk_Full', 'Disk.Full'],
      ['alert_5xx_rate', '5xx rate'],
      ['x'.repeat(90), long],
      ['Instance_down-2', 'Instance_down'],
    ]);
  });

  it('refuses a group whose limit or query_offset would change what its rules say, rather than ignore them', () => {
    const text = `
groups:
  - name: delayed
    query_offset: 1m
    limit: 10
    rules:
      - alert: Down
        expr: up == 0
`;
    try {
      parseRulesFile(text, 'delayed.yml');
      expect.unreachable('a group with query_offset was loaded');
    } catch (err) {
      expect((err as RulesFileError).problems.map((p) => `${p.rule} ${p.field}`)).toEqual(['delayed limit', 'delayed query_offset']);
    }
  });

  it('refuses the whole file with every problem named: bad PromQL, a bad duration, an unknown field', () => {
    const text = `
groups:
  - name: broken
    rules:
      - alert: Broken
        expr: sum(rate(x[5m]) by (job)
      - alert: BadFor
        expr: up == 0
        for: soon
      - record: ok:sum
        expr: sum(x)
        oops: 1
`;
    expect(() => parseRulesFile(text, 'broken.yml')).toThrow(RulesFileError);
    try {
      parseRulesFile(text, 'broken.yml');
    } catch (err) {
      const problems = (err as RulesFileError).problems.map((p) => `${p.rule} ${p.field}: ${p.reason}`);
      expect(problems).toEqual([
        expect.stringMatching(/^broken\[2\] .*oops/),
        expect.stringMatching(/^Broken expr: not valid PromQL/),
        expect.stringMatching(/^BadFor for: expected a duration/),
      ]);
    }
  });

  it('render Prometheus template forms in summaries and messages', () => {
    expect(renderTemplate('{{ $labels.job }} at {{ $value | humanize }} ({{.Labels.job}}, {{ .Value }}, {{job}}, {{value}}, {{ $labels.nope }})', { job: 'eu' }, 0.25)).toBe(
      'eu at 0.25 (eu, 0.25, eu, 0.25, {{ $labels.nope }})',
    );
  });
});
