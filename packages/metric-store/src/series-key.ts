import { TAGS_JSON } from '@terminusa/bus';

/** Tags sorted by key, so the same tag set always has the same identity; tags already in order are returned as they are. */
export function sortTags(tags: Readonly<Record<string, string>>): Record<string, string> {
  const keys = Object.keys(tags);
  let inOrder = true;
  for (let i = 1; i < keys.length && inOrder; i++) inOrder = keys[i - 1]! < keys[i]!;
  if (inOrder) return tags as Record<string, string>;
  const sorted: Record<string, string> = {};
  for (const key of keys.sort()) sorted[key] = tags[key]!;
  return sorted;
}

const identities = new WeakMap<object, string>();

/**
 * The JSON of tags sorted by key: the identity of a tag set, and the field of the current-value hash. A decoded
 * sample batch's tags carry it already (TAGS_JSON); otherwise it is remembered for frozen tags objects, which
 * cannot change, so it is built once per series rather than for every sample.
 */
export function tagsIdentity(tags: Readonly<Record<string, string>>): string {
  const decoded = (tags as { [TAGS_JSON]?: string })[TAGS_JSON];
  if (decoded !== undefined) return decoded;
  if (!Object.isFrozen(tags)) return JSON.stringify(sortTags(tags));
  let identity = identities.get(tags);
  if (identity === undefined) identities.set(tags, (identity = JSON.stringify(sortTags(tags))));
  return identity;
}

/** Identity of a series in Prometheus notation: `name{a="1",b="2"}`, tags sorted. */
export function seriesKey(name: string, tags: Readonly<Record<string, string>>): string {
  const keys = Object.keys(tags);
  if (keys.length === 0) return name;
  if (keys.length > 1) keys.sort();
  // Built by concatenation, not map and join: the processor keys every sample (half the time for three tags).
  let key = `${name}{`;
  for (let i = 0; i < keys.length; i++) key += `${i === 0 ? '' : ','}${keys[i]!}=${JSON.stringify(tags[keys[i]!])}`;
  return `${key}}`;
}

/** True when `tags` holds every key/value of `filter`. */
export function matchesTags(tags: Readonly<Record<string, string>>, filter: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(filter)) if (tags[k] !== v) return false;
  return true;
}
