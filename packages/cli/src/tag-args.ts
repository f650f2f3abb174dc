import { InvalidArgumentError } from 'commander';
import { MAX_TAG_KEY_LENGTH, TAG_KEY, TAG_KEY_RULE } from '@terminusa/bus';

/** Commander parser for a repeatable `--tag key=value`: adds one pair to the ones before; the value may contain `=`. */
export function parseTagArg(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = text.indexOf('=');
  if (eq < 1) throw new InvalidArgumentError(`expected key=value, got "${text}"`);
  const key = text.slice(0, eq);
  if (key.length > MAX_TAG_KEY_LENGTH) throw new InvalidArgumentError(`tag key "${key.slice(0, 20)}…": tag keys are at most ${MAX_TAG_KEY_LENGTH} characters`);
  if (!TAG_KEY.test(key)) throw new InvalidArgumentError(`tag key "${key}": ${TAG_KEY_RULE}`);
  if (key in previous && previous[key] !== text.slice(eq + 1)) throw new InvalidArgumentError(`tag ${key} given twice with different values`);
  return { ...previous, [key]: text.slice(eq + 1) };
}

/** Tags as the gateway's `<prefix>.<key>=<value>` query parameters (`tag.` for metrics, `label.` for alerts). */
export function tagQuery(tags: Record<string, string>, prefix: 'tag' | 'label'): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [`${prefix}.${k}`, v]));
}
