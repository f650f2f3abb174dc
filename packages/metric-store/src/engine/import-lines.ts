import type { Sample } from '@terminusa/bus';
import { tagsIdentity } from '../series-key.ts';
import { NAMESPACE_LABEL } from './victoria-metrics.ts';

/**
 * The engine's JSON-lines import body for `samples`: one line per series, its samples in the order given. A
 * series' labels are spliced from its tags identity (the JSON of the sorted tags, built once per decoded
 * series), so no object is built per sample.
 */
export function importLines(samples: readonly Sample[]): string {
  const bySeries = new Map<string, { ts: number[]; values: number[] }>();
  for (const s of samples) {
    const identity = tagsIdentity(s.tags);
    const key = identity === '{}' ? `{"__name__":${JSON.stringify(s.name)}}` : `{"__name__":${JSON.stringify(s.name)},${identity.slice(1)}`;
    let series = bySeries.get(key);
    if (!series) bySeries.set(key, (series = { ts: [], values: [] }));
    series.ts.push(Math.trunc(s.ts));
    series.values.push(s.value);
  }
  let body = '';
  for (const [metric, { ts, values }] of bySeries) body += `{"metric":${metric},"values":[${values.join(',')}],"timestamps":[${ts.join(',')}]}\n`;
  return body;
}

/** A series' tags from the engine's labels: all but its name and the namespace label. */
export function tagsOfLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k !== '__name__' && k !== NAMESPACE_LABEL) tags[k] = v;
  return tags;
}
