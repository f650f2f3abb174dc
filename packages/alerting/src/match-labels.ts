import type { Matcher } from './rule-schema.ts';

/** True when `labels` satisfy every matcher (a missing label is the empty string, as in Prometheus). */
export function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) {
    const v = labels[m.tag] ?? '';
    switch (m.op) {
      case '=':
        if (v !== m.value) return false;
        break;
      case '!=':
        if (v === m.value) return false;
        break;
      case '=~':
        if (!anchored(m.value).test(v)) return false;
        break;
      case '!~':
        if (anchored(m.value).test(v)) return false;
        break;
    }
  }
  return true;
}

const compiled = new Map<string, RegExp>();
function anchored(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) compiled.set(pattern, (re = new RegExp(`^(?:${pattern})$`)));
  return re;
}
