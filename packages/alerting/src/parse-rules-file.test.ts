import { describe, expect, it } from 'vitest';
import { parseRulesFile, RulesFileError } from './index.ts';

const problems = (text: string) => {
  try {
    parseRulesFile(text, 'rules.yaml');
  } catch (err) {
    if (err instanceof RulesFileError) return err.problems.map((p) => `${p.rule} ${p.field}: ${p.reason}`);
    throw err;
  }
  return [];
};

describe('parseRulesFile', () => {
  it('reads threshold and no-data rules with defaults and durations in ms', () => {
    const rules = parseRulesFile(
      `rules:
  - name: HighCpu
    metric: system_cpu_usage_percent
    matchers: [{ tag: cpu, value: total }, { tag: host, op: "=~", value: "web-.*" }]
    aggregation: avg
    window: 5m
    comparator: ">"
    threshold: 90
    for: 2m
    severity: critical
  - name: CollectorSilent
    type: nodata
    metric: system_load1
    groupBy: [host]
    for: 3m
    severity: warning
`,
      'rules.yaml',
    );
    expect(rules[0]).toMatchObject({ type: 'threshold', window: 300_000, for: 120_000, keepFiringFor: 0, matchers: [{ tag: 'cpu', op: '=', value: 'total' }, { op: '=~' }] });
    expect(rules[1]).toMatchObject({ type: 'nodata', for: 180_000, groupBy: ['host'] });
  });

  it('names the file, the rule and the field of every problem', () => {
    expect(
      problems(`rules:
  - name: NoThreshold
    metric: up
    comparator: ">"
    severity: critical
  - name: BadRegex
    metric: up
    matchers: [{ tag: job, op: "=~", value: "(" }]
    comparator: "<"
    threshold: 1
    severity: warning
  - name: AvgNoWindow
    metric: up
    aggregation: avg
    comparator: "<"
    threshold: 1
    severity: loud
`),
    ).toEqual([
      'NoThreshold threshold: Invalid input: expected number, received undefined',
      expect.stringMatching(/^BadRegex matchers\[0\]\.value: not a regular expression/),
      expect.stringMatching(/^AvgNoWindow severity: Invalid option/),
    ]);
  });

  it('refuses label, matcher and groupBy keys longer than ingest takes tag keys', () => {
    const long = 'k'.repeat(129);
    expect(problems(`rules:\n  - {name: Long, metric: up, comparator: "<", threshold: 1, severity: info, labels: {${long}: x}, matchers: [{tag: ${long}, value: x}], groupBy: [${long}]}\n`)).toEqual([
      `Long matchers[0].tag: tag keys are at most 128 characters`,
      `Long groupBy[0]: tag keys are at most 128 characters`,
      expect.stringMatching(/^Long labels.*: tag keys are at most 128 characters/),
    ]);
    expect(problems(`rules:\n  - {name: Fits, metric: up, comparator: "<", threshold: 1, severity: info, labels: {${'k'.repeat(128)}: x}}\n`)).toEqual([]);
  });

  it('refuses duplicate names and broken YAML', () => {
    expect(problems('rules:\n  - {name: A, metric: up, comparator: "<", threshold: 1, severity: info}\n  - {name: A, metric: up, comparator: "<", threshold: 1, severity: info}\n')).toEqual([
      'A name: another rule in the file has this name',
    ]);
    expect(problems('rules: [\n')[0]).toMatch(/^\(file\) \(yaml\): not valid YAML/);
    expect(problems('alerts: []\n')[0]).toMatch(/rules|Unrecognized/);
  });
});
