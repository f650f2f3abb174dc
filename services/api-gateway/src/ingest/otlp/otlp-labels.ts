import { attributeText } from './attribute-text.ts';
import { labelName } from './otlp-names.ts';
import type { KeyValue } from './otlp-proto.ts';

/** The resource attributes that name the sender: they become `job` and `instance`, not labels of their own. */
export const SERVICE_NAME = 'service.name';
export const SERVICE_NAMESPACE = 'service.namespace';
export const SERVICE_INSTANCE_ID = 'service.instance.id';
const IDENTIFYING = new Set([SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID]);

/** The first value of `key` among `attributes` (a key sent twice is a sender's error; the first wins, as in the collector). */
function valueOf(attributes: readonly KeyValue[], key: string): string | undefined {
  const kv = attributes.find((a) => a.key === key);
  return kv ? attributeText(kv.value) : undefined;
}

/** `job` and `instance` of a resource: `service.namespace/service.name` (or the name alone) and `service.instance.id`. */
export function resourceIdentity(attributes: readonly KeyValue[]): Record<string, string> {
  const identity: Record<string, string> = {};
  const name = valueOf(attributes, SERVICE_NAME);
  const namespace = valueOf(attributes, SERVICE_NAMESPACE);
  if (name !== undefined) identity.job = namespace !== undefined ? `${namespace}/${name}` : name;
  const instance = valueOf(attributes, SERVICE_INSTANCE_ID);
  if (instance !== undefined) identity.instance = instance;
  return identity;
}

/**
 * Attributes as labels, those whose names become the same label joined with `;` in key order as Prometheus does,
 * `over` (job, instance) on top, and empty values left out because to Prometheus and the engine they are no label.
 */
export function attributeLabels(attributes: readonly KeyValue[], over: Record<string, string> = {}): Record<string, string> {
  // A Map, then fromEntries: an attribute named `__proto__` is a label like any other.
  const labels = new Map<string, string>();
  const sorted = attributes.map((a, i) => ({ key: a.key ?? '', value: a.value, i })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i));
  for (const { key, value } of sorted) {
    const name = labelName(key);
    if (name === undefined) continue;
    const text = attributeText(value);
    const before = labels.get(name);
    labels.set(name, before === undefined ? text : `${before};${text}`);
  }
  for (const [name, value] of Object.entries(over)) labels.set(name, value);
  return Object.fromEntries([...labels].filter(([, value]) => value !== ''));
}

/**
 * The labels of a resource's `target_info`: its attributes but those that make `job` and `instance`, and those
 * two; undefined when it has no other attribute or neither identity label, where Prometheus writes none either.
 */
export function targetInfoLabels(attributes: readonly KeyValue[]): Record<string, string> | undefined {
  const others = attributes.filter((a) => !IDENTIFYING.has(a.key ?? ''));
  if (others.length === 0) return undefined;
  const identity = resourceIdentity(attributes);
  if (identity.job === undefined && identity.instance === undefined) return undefined;
  return attributeLabels(others, identity);
}
