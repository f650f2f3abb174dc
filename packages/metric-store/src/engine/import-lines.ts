import type { Sample } from '@terminusa/bus';
import { tagsIdentity } from '../series-key.ts';
import { NAMESPACE_LABEL } from './victoria-metrics.ts';

/**
 * The engine's JSON-lines import body for `samples`: a line per run of samples of one series (the engine takes
 * several lines of a series as well as one). A decoded batch keeps a series' samples together within a message,
 * and its series share one tags object, so a run is found by comparing references, without a map: with a million
 * series a batch holds each once, and grouping them cost the storage more than the rest of a write. A line's labels
 * are spliced from the tags identity (the JSON of the sorted tags, which decoded tags carry).
 */
export function importLines(samples: readonly Sample[]): string {
  const lines: string[] = [];
  let i = 0;
  while (i < samples.length) {
    const first = samples[i]!;
    let end = i + 1;
    while (end < samples.length && samples[end]!.tags === first.tags && samples[end]!.name === first.name) end++;
    const identity = tagsIdentity(first.tags);
    const labels = identity === '{}' ? '}' : `,${identity.slice(1)}`;
    let values = `${first.value}`;
    let ts = `${Math.trunc(first.ts)}`;
    for (let k = i + 1; k < end; k++) {
      values += `,${samples[k]!.value}`;
      ts += `,${Math.trunc(samples[k]!.ts)}`;
    }
    lines.push(`{"metric":{"__name__":${JSON.stringify(first.name)}${labels},"values":[${values}],"timestamps":[${ts}]}`);
    i = end;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** A series' tags from the engine's labels: all but its name and the namespace label. */
export function tagsOfLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (k !== '__name__' && k !== NAMESPACE_LABEL) tags[k] = v;
  return tags;
}
