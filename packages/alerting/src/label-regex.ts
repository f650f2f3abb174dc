import { RE2JS, RE2JSException, RE2JSSyntaxException } from 're2js';

/**
 * Tag-matcher regular expressions (`=~`, `!~`) in RE2 syntax, matched in time linear in the value, as Prometheus
 * and Alertmanager match them (Go's regexp is RE2): no pattern, however written, can make a match backtrack.
 *
 * The engine is re2js, the pure-JavaScript port of RE2/J, because measured here it is the fastest on what the
 * alert-manager runs for every sample and needs no native build or WASM memory to manage (compile + 100,000 matches
 * of `web-.*`, `eu|us` and `5..`: re2js 30–75 ms, the native `re2` binding 220–490 ms with node-gyp and a C++ call
 * per match, `re2-wasm` 450–860 ms with a UTF-8 copy per match and compiled patterns it never frees; `(a+)+$`
 * against 50,000 × `a` + `b`: 1–25 ms, 0.1–9 ms and 1–20 ms, where the `RegExp` used before took 7.5 s for 26 × `a`).
 */

/**
 * Longest pattern accepted, in characters, counting a counted repetition `x{n,m}` as max(n, m) copies of `x`.
 * Tag values are at most 256 characters, so 1,000 leaves room for an alternation of ~50 host names or
 * `.{0,255}`, while it bounds what one pattern costs: at most ~2,000 RE2 instructions, compiled in at most ~50 ms
 * (median, measured here), and a match of a 256-character value well under a millisecond for usual patterns (tens of
 * ms for the worst, such as repeated Unicode classes). Without counting repetitions, `x{1000}` written 140 times
 * (980 characters) compiles to 140,000 instructions and takes seconds.
 */
export const MAX_LABEL_REGEX_LENGTH = 1000;

/** Distinct patterns kept compiled; rules and silences in use hold far fewer, and an evicted one just recompiles. */
const CACHE_SIZE = 1000;
/** A counted repetition: `{n}`, `{n,}` or `{n,m}` (any other `{` is a literal in RE2). */
const REPEAT = /\{(\d{1,9})(,(\d{0,9}))?\}/y;
/** Where `writtenOutLength` stops counting, so that nested repetitions stay finite numbers. */
const CAP = 1e12;

/** A compiled tag-matcher pattern. */
export interface LabelRegex {
  readonly pattern: string;
  /** Whether the whole of `value` matches (anchored at both ends, as `^(?:pattern)$`). */
  test(value: string): boolean;
}

/** A pattern that is not accepted as a tag matcher: invalid or unsupported syntax, or too long. */
export class LabelRegexError extends Error {
  override readonly name = 'LabelRegexError';
}

const cache = new Map<string, LabelRegex | LabelRegexError>();

/**
 * Compiles a tag-matcher pattern, fully anchored; compiled patterns (and refusals) are cached per pattern.
 * Throws LabelRegexError, with a message that says why, for invalid or unsupported syntax and too long patterns.
 */
export function compileLabelRegex(pattern: string): LabelRegex {
  let entry = cache.get(pattern);
  if (entry === undefined) {
    entry = compile(pattern);
    // Oldest first: a full cache drops the pattern compiled longest ago.
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(pattern, entry);
  }
  if (entry instanceof LabelRegexError) throw entry;
  return entry;
}

/** Why `pattern` is not accepted as a tag matcher, or undefined when it is. */
export function labelRegexProblem(pattern: string): string | undefined {
  try {
    compileLabelRegex(pattern);
    return undefined;
  } catch (err) {
    if (err instanceof LabelRegexError) return err.message;
    throw err;
  }
}

function compile(pattern: string): LabelRegex | LabelRegexError {
  const limit = MAX_LABEL_REGEX_LENGTH.toLocaleString('en-US');
  if (pattern.length > MAX_LABEL_REGEX_LENGTH) return new LabelRegexError(`too long: ${pattern.length.toLocaleString('en-US')} characters, at most ${limit}`);
  const size = writtenOutLength(pattern);
  if (size > MAX_LABEL_REGEX_LENGTH) {
    return new LabelRegexError(`too long: ${size >= CAP ? 'over 10^12' : size.toLocaleString('en-US')} characters once its counted repetitions (x{n,m}) are written out, at most ${limit}`);
  }
  let re: RE2JS;
  try {
    // Compiled on its own, so that text such as `a)|(b` cannot pair with the anchors; `testExact` anchors both
    // ends, as `^(?:pattern)$` does (and measured 2–3 times faster than compiling that wrapper).
    re = RE2JS.compile(pattern);
  } catch (err) {
    if (err instanceof RE2JSException) return new LabelRegexError(describe(err, pattern));
    throw err;
  }
  return { pattern, test: (value) => re.testExact(value) };
}

const UNSUPPORTED = 'RE2 syntax, as in Prometheus and Alertmanager, matches in linear time and has no lookahead, lookbehind or backreferences';

function describe(err: RE2JSException, pattern: string): string {
  if (err instanceof RE2JSSyntaxException) {
    const input = err.input ?? '';
    if (input.startsWith('(?=') || input.startsWith('(?!')) return `not a regular expression (RE2 syntax): lookahead \`${input.slice(0, 3)}\` is not supported; ${UNSUPPORTED}`;
    if (input.startsWith('(?<=') || input.startsWith('(?<!')) return `not a regular expression (RE2 syntax): lookbehind \`${input.slice(0, 4)}\` is not supported; ${UNSUPPORTED}`;
    if (/^\\[1-9k]$/.test(input) || (input === '(?P' && pattern.includes('(?P='))) return `not a regular expression (RE2 syntax): backreference \`${input === '(?P' ? '(?P=' : input}\` is not supported; ${UNSUPPORTED}`;
    return `not a regular expression (RE2 syntax): ${err.error}${input ? `: \`${input}\`` : ''}`;
  }
  return `not a regular expression (RE2 syntax): ${err.message.replace(/^error parsing regexp: /, '')}`;
}

/**
 * The pattern's length with every counted repetition written out (`(ab){3}` counts as `(ab)(ab)(ab)`, 12), what
 * the compiled program grows with; counting stops at 10^12. One linear scan that follows RE2's groups, classes,
 * escapes and `\Q…\E` closely enough to find each repetition's operand; the exact syntax is RE2's to check.
 */
export function writtenOutLength(pattern: string): number {
  const n = pattern.length;
  // Per open group: the length so far, and the length of its last atom (what a repetition repeats).
  const stack: { total: number; last: number }[] = [];
  let cur = { total: 0, last: 0 };
  const atom = (len: number) => {
    cur.total += len;
    cur.last = len;
  };
  let i = 0;
  while (i < n) {
    const c = pattern[i]!;
    if (c === '(') {
      stack.push(cur);
      cur = { total: 1, last: 0 };
      i++;
    } else if (c === ')') {
      const group = cur.total + 1;
      cur = stack.pop() ?? cur;
      atom(group);
      i++;
    } else if (c === '|') {
      cur.total += 1;
      cur.last = 0;
      i++;
    } else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < n && pattern[j] !== ']') {
        if (pattern[j] === '\\') j += 2;
        else if (pattern[j] === '[' && pattern[j + 1] === ':') {
          const end = pattern.indexOf(':]', j + 2);
          j = end < 0 ? j + 1 : end + 2;
        } else j++;
      }
      j = Math.min(j + 1, n);
      atom(j - i);
      i = j;
    } else if (c === '\\') {
      const next = pattern[i + 1];
      if (next === 'Q') {
        const end = pattern.indexOf('\\E', i + 2);
        const stop = end < 0 ? n : end + 2;
        cur.total += stop - i - 1;
        cur.last = 1;
        i = stop;
      } else if ((next === 'p' || next === 'P' || next === 'x') && pattern[i + 2] === '{') {
        const end = pattern.indexOf('}', i + 3);
        const stop = end < 0 ? n : end + 1;
        atom(stop - i);
        i = stop;
      } else if (next === 'p' || next === 'P') {
        // `\pL`: a one-letter Unicode class.
        atom(3);
        i += 3;
      } else {
        atom(2);
        i += 2;
      }
    } else if (c === '{') {
      REPEAT.lastIndex = i;
      const m = REPEAT.exec(pattern);
      if (m && cur.last > 0) {
        const min = Number(m[1]);
        const copies = Math.max(1, m[2] === undefined ? min : m[3] ? Number(m[3]) : min + 1);
        cur.total = Math.min(CAP, cur.total + cur.last * (copies - 1));
        cur.last = Math.min(CAP, cur.last * copies);
        i += m[0].length;
      } else {
        atom(1);
        i++;
      }
    } else {
      // `*`, `+` and `?` add one instruction, like a character.
      atom(1);
      if (c === '*' || c === '+' || c === '?') cur.last = 0;
      i++;
    }
  }
  while (stack.length) {
    const group = cur.total;
    cur = stack.pop()!;
    cur.total += group;
  }
  return cur.total;
}
