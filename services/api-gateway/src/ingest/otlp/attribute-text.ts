import type { AnyValue } from './otlp-proto.ts';

/** An attribute value in JSON, as the collector's `AsRaw` and `json.Marshal` write it: maps with their keys sorted. */
function jsonOf(value: AnyValue | undefined): string {
  if (!value) return 'null';
  if (value.stringValue !== undefined) return JSON.stringify(value.stringValue);
  if (value.boolValue !== undefined) return String(value.boolValue);
  // Written from its decimal digits: an int64 need not fit a double.
  if (value.intValue !== undefined) return value.intValue;
  if (value.doubleValue !== undefined) return JSON.stringify(value.doubleValue);
  if (value.bytesValue !== undefined) return JSON.stringify(value.bytesValue);
  if (value.arrayValue) return `[${(value.arrayValue.values ?? []).map(jsonOf).join(',')}]`;
  if (value.kvlistValue) {
    const entries = new Map<string, string>();
    for (const kv of value.kvlistValue.values ?? []) if (!entries.has(kv.key ?? '')) entries.set(kv.key ?? '', jsonOf(kv.value));
    return `{${[...entries.keys()].sort().map((k) => `${JSON.stringify(k)}:${entries.get(k)}`).join(',')}}`;
  }
  return 'null';
}

/**
 * An attribute value as a label value, written as the collector's `Value.AsString` (which Prometheus uses) writes
 * it: strings as they are, numbers and booleans as text, bytes in base64, arrays and maps as JSON.
 */
export function attributeText(value: AnyValue | undefined): string {
  if (!value) return '';
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.bytesValue !== undefined) return value.bytesValue;
  if (value.doubleValue !== undefined) return String(value.doubleValue);
  if (value.boolValue !== undefined || value.intValue !== undefined || value.arrayValue || value.kvlistValue) return jsonOf(value);
  return '';
}
