import { CHANNELS, matchesAll, type AlertRule, type ChannelName, type PromqlRule, type Rule, type StreamRule } from '@terminusa/alerting';
import type { Config } from '@terminusa/config';
import { isPackedSampleBatch, sampleNameMarker, type Sample } from '@terminusa/bus';

/**
 * The rules in force: the stream rules indexed by metric name so a batch only meets the rules that can match it,
 * and the PromQL rules the engine evaluates on their interval.
 */
export class RuleSet {
  private readonly byMetric = new Map<string, StreamRule[]>();
  private readonly byName = new Map<string, Rule>();
  private readonly metricMarkers: Buffer[];
  /** Enabled PromQL alert and recording rules. */
  readonly promql: readonly PromqlRule[];
  /**
   * The enabled rules' names, types, group definitions and no-data durations: equal for two sets that end and time
   * the same alerts (a reload that changed no rule).
   */
  readonly kinds: string;

  constructor(readonly rules: readonly Rule[]) {
    const promql: PromqlRule[] = [];
    for (const rule of rules) {
      if (!rule.enabled) continue;
      this.byName.set(rule.name, rule);
      if (rule.type === 'promql' || rule.type === 'record') {
        promql.push(rule);
        continue;
      }
      const list = this.byMetric.get(rule.metric) ?? [];
      list.push(rule);
      this.byMetric.set(rule.metric, list);
    }
    this.promql = promql;
    this.kinds = [...this.byName.values()].map((r) => `${r.name}\u0000${r.type}\u0000${groupDefinition(r)}\u0000${r.type === 'nodata' ? r.for : ''}`).sort().join('\n');
    this.metricMarkers = [...this.byMetric.keys()].map(sampleNameMarker);
  }

  /**
   * False when a sample batch body cannot hold a sample any rule watches: it holds none of the watched metric
   * names as an entry of a name table (bytes that may also occur by chance elsewhere, which only costs a decode).
   * Most batches hold no watched metric, and a byte search is far cheaper than decoding them.
   */
  mayMatch(body: Uint8Array): boolean {
    // A JSON body of an older processor is decoded and matched as it is.
    if (!isPackedSampleBatch(body)) return true;
    const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return this.metricMarkers.some((marker) => bytes.includes(marker));
  }

  /** The enabled rule with this name. */
  rule(name: string): Rule | undefined {
    return this.byName.get(name);
  }

  /** Enabled stream rules whose metric and matchers select this sample. */
  matching(sample: Sample): StreamRule[] {
    return (this.byMetric.get(sample.name) ?? []).filter((r) => matchesAll(r.matchers, sample.tags));
  }
}

/** The tags that identify a rule's group for a sample: its `groupBy` tags, or all tags (one alert per series). */
export function groupTags(rule: StreamRule, tags: Readonly<Record<string, string>>): Record<string, string> {
  const keys = (rule.groupBy ?? Object.keys(tags)).slice().sort();
  const out: Record<string, string> = {};
  for (const k of keys) if (tags[k] !== undefined) out[k] = tags[k];
  return out;
}

/**
 * What makes a stream rule's groups: its metric, matchers and groupBy. A no-data rule keeps a record per group it has
 * seen, for good; one whose groups are made otherwise now (groupBy changed) would never see the old ones again, and
 * they fired for ever: records of another definition are ended as those of a rule gone.
 */
export function groupDefinition(rule: Rule | undefined): string {
  if (!rule || rule.type !== 'nodata') return '';
  // In one order: groupBy and matchers are sets, and a reordered one, read as another definition, ended the alerts of
  // silent groups for good (nothing recreates a dead host's record).
  const matchers = rule.matchers.map((m) => JSON.stringify([m.tag, m.op, m.value])).sort();
  return JSON.stringify([rule.metric, matchers, rule.groupBy ? [...rule.groupBy].sort() : null]);
}

/**
 * The definition as versions before the one order wrote it (matchers and groupBy as written), which records of
 * silent groups still carry: the same definition, not another.
 */
export function writtenGroupDefinition(rule: Rule | undefined): string {
  return rule && rule.type === 'nodata' ? JSON.stringify([rule.metric, rule.matchers, rule.groupBy ?? null]) : '';
}

/** The channels an alert of this rule goes to: the rule's override, else its severity's (`all` = every channel). */
export function channelsFor(rule: AlertRule, levels: Config['alerts']['levels']): ChannelName[] {
  if (rule.channels) return rule.channels;
  const configured = levels[rule.severity].channels;
  return configured.includes('all') ? [...CHANNELS] : (configured as ChannelName[]);
}
