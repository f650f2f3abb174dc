import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { parseRulesFile } from '@terminusa/alerting';
import { sampleBatchBodies, type Sample } from '@terminusa/bus';
import { RuleSet } from './rule-set.ts';

const RULES = `
rules:
  - name: QueueDeep
    metric: game_queue_depth
    comparator: ">"
    threshold: 100
    severity: warning
    summary: "queue deep"
    message: "queue at {{value}}"
  - name: Off
    metric: game_disabled_metric
    enabled: false
    comparator: ">"
    threshold: 1
    severity: info
    summary: "off"
    message: "off"
`;

const body = (...samples: Sample[]) => sampleBatchBodies([{ id: 'm1', source: 'test', samples }], 1 << 20)[0]!.body;
const sample = (name: string, tags: Record<string, string> = {}): Sample => ({ name, tags, ts: 1_700_000_000_000, value: 1 });

describe('a rule set skipping sample batches no rule can match', () => {
  const rules = new RuleSet(parseRulesFile(RULES, 'rules.yaml'));

  it('decodes a batch that holds a watched metric, wherever it sits in the batch', () => {
    expect(rules.mayMatch(body(sample('game_queue_depth', { shard: '1' })))).toBe(true);
    expect(rules.mayMatch(body(...Array.from({ length: 50 }, (_, i) => sample('other_metric', { i: String(i) })), sample('game_queue_depth')))).toBe(true);
  });

  it('skips a batch of unwatched metrics, one of a disabled rule, and one whose name only starts with a watched name', () => {
    expect(rules.mayMatch(body(sample('other_metric'), sample('players_online', { region: 'eu' })))).toBe(false);
    expect(rules.mayMatch(body(sample('game_disabled_metric')))).toBe(false);
    expect(rules.mayMatch(body(sample('game_queue_depth_max')))).toBe(false);
  });

  it('reads a body that is a view into a larger buffer only within its bounds', () => {
    const inside = body(sample('other_metric'));
    const watched = body(sample('game_queue_depth'));
    const around = Buffer.concat([watched, inside, watched]);
    expect(rules.mayMatch(around.subarray(watched.byteLength, watched.byteLength + inside.byteLength))).toBe(false);
  });

  it('decodes a JSON body of an older processor rather than skip it', () => {
    expect(rules.mayMatch(new TextEncoder().encode(JSON.stringify({ parts: [{ id: 'm1', source: 'test', samples: [sample('other_metric')] }] })))).toBe(true);
  });

  it('matches nothing without enabled rules', () => {
    expect(new RuleSet([]).mayMatch(body(sample('game_queue_depth')))).toBe(false);
  });
});

describe('a rule set selecting the rules of a sample by regex matchers', () => {
  const rules = new RuleSet(
    parseRulesFile(
      `
rules:
  - { name: Backtracking, metric: web_latency, matchers: [{ tag: host, op: "=~", value: "(a+)+$" }], comparator: ">", threshold: 1, severity: warning }
  - { name: NotBacktracking, metric: web_latency, matchers: [{ tag: host, op: "!~", value: "(a+)+$" }], comparator: ">", threshold: 1, severity: info }
`,
      'rules.yaml',
    ),
  );
  const names = (tags: Record<string, string>) => rules.matching(sample('web_latency', tags)).map((r) => r.name);

  it('matches as RE2, fully anchored', () => {
    expect(names({ host: 'aaaa' })).toEqual(['Backtracking']);
    expect(names({ host: 'aaab' })).toEqual(['NotBacktracking']);
  });

  it('answers (a+)+$ on a crafted 100,000-character tag within milliseconds, as it does for every sample', () => {
    names({ host: `${'b'.repeat(1000)}!` });
    const started = performance.now();
    const cpu = process.cpuUsage();
    expect(names({ host: `${'a'.repeat(100_000)}!` })).toEqual(['NotBacktracking']);
    const used = process.cpuUsage(cpu);
    // ~2 ms here; the backtracking RegExp used before never returned. CPU time is bounded tightly, wall time loosely.
    expect((used.user + used.system) / 1000).toBeLessThan(250);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('a rule set’s kinds', () => {
  it('are equal for the same rules read again, and differ once a rule is of another type, added or gone', () => {
    const read = () => new RuleSet(parseRulesFile(RULES, 'rules.yaml'));
    expect(read().kinds).toBe(read().kinds);
    expect(read().kinds).not.toContain('Off');
    const nodata = RULES.replace('    comparator: ">"\n    threshold: 100\n', '    type: nodata\n    for: 1m\n');
    expect(new RuleSet(parseRulesFile(nodata, 'rules.yaml')).kinds).not.toBe(read().kinds);
    expect(new RuleSet([]).kinds).not.toBe(read().kinds);
  });
});
