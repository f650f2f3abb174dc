import { compileLabelRegex, LabelRegexError, type LabelRegex } from './label-regex.ts';
import type { Matcher } from './rule-schema.ts';

/**
 * True when `labels` satisfy every matcher (a missing label is the empty string, as in Prometheus). Regex
 * matchers run in linear time (RE2, see label-regex.ts). A matcher whose pattern is refused (one stored before
 * patterns were checked as RE2) is satisfied by no labels, whatever its op: a silence that holds one silences nothing.
 */
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
      case '!~': {
        const re = regex(m.value);
        if (!re || re.test(v) !== (m.op === '=~')) return false;
        break;
      }
    }
  }
  return true;
}

function regex(pattern: string): LabelRegex | undefined {
  try {
    return compileLabelRegex(pattern);
  } catch (err) {
    if (err instanceof LabelRegexError) return undefined;
    throw err;
  }
}
