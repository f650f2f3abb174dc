import type { Sample } from '@terminusa/bus';
import { tagsIdentity } from '../series-key.ts';
import { NAMESPACE_LABEL } from './victoria-metrics.ts';

/**
 * The engine's JSON-lines import body for `samples`: one line per series, its samples in the order given. A
 * series' labels are spliced from its tags identity (the JSON of the sorted tags, built once per decoded
 * series), so no object is built per sample.
 */
export function importLines(samples: readonly Sample[]): string {
  // Keyed by strings that exist already (the name from the batch's name table, the identity from the tags), whose
  // hashes V8 keeps: a key built per sample cost a sixth of the storage's time with a million series.
  const byName = new Map<string, Map<string, { ts: number[]; values: number[] }>>();
  for (const s of samples) {
    let bySeries = byName.get(s.name);
    if (!bySeries) byName.set(s.name, (bySeries = new Map()));
    const identity = tagsIdentity(s.tags);
    const series = bySeries.get(identity);
    if (series) {
      series.ts.push(Math.trunc(s.ts));
      series.values.push(s.value);
    } else bySeries.set(identity, { ts: [Math.trunc(s.ts)], values: [s.value] });
  }
  const lines: string[] = [];
  for (const [name, bySeries] of byName) {
    const head = `{"metric":{"__name__":${JSON.stringify(name)}`;
    for (const [identity, { ts, values }] of bySeries) {
      const labels = identity === '{}' ? '}' : `,${identity.slice(1)}`;
      lines.push(`${head}${labels},"values":[${values.join(',')}],"timestamps":[${ts.join(',')}]}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** A series' tags from the engine's labels: all but its name and the namespace label. */
export function tagsOfLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k !== '__name__' && k !== NAMESPACE_LABEL) tags[k] = v;
  return tags;
}
