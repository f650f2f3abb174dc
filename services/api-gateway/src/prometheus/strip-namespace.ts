import { NAMESPACE_LABEL } from '@terminusa/metric-store';

/** A label set as the Prometheus API carries it. */
export type Labels = Record<string, string>;

/** `labels` without the namespace label, the engine's business only. */
export function withoutNamespace(labels: Labels): Labels {
  return NAMESPACE_LABEL in labels ? Object.fromEntries(Object.entries(labels).filter(([name]) => name !== NAMESPACE_LABEL)) : labels;
}

/** A query's `data` with the namespace label taken off every series' labels (vectors and matrices; scalars and strings have none). */
export function stripQueryData(data: { resultType: string; result: unknown }): { resultType: string; result: unknown } {
  if ((data.resultType !== 'vector' && data.resultType !== 'matrix') || !Array.isArray(data.result)) return data;
  return { ...data, result: (data.result as { metric: Labels }[]).map((series) => ({ ...series, metric: withoutNamespace(series.metric ?? {}) })) };
}

/** Label names without the namespace label. */
export function stripLabelNames(names: string[]): string[] {
  return names.filter((name) => name !== NAMESPACE_LABEL);
}

/** A quoted label value as the engine prints it, escaped quotes included. */
const QUOTED = '"(?:[^"\\\\]|\\\\.)*"';
/** The namespace label as the engine's messages print a label set: `{i="1", tmon_ns="t0f3", job="a"}`. */
const IN_TEXT = [new RegExp(`,\\s*${NAMESPACE_LABEL}=${QUOTED}`, 'g'), new RegExp(`${NAMESPACE_LABEL}=${QUOTED},?\\s*`, 'g')];

/** An engine message without the namespace label in the label sets it quotes. */
export function scrubNamespace(text: string): string {
  return IN_TEXT.reduce((scrubbed, pattern) => scrubbed.replace(pattern, ''), text);
}

/** Whether `name` is the namespace label, whose values no caller sees. */
export function isNamespaceLabel(name: string): boolean {
  return name === NAMESPACE_LABEL;
}
