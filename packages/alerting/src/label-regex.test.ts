import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { compileLabelRegex, labelRegexProblem, LabelRegexError, MAX_LABEL_REGEX_LENGTH, writtenOutLength } from './label-regex.ts';
import { matchesAll } from './match-labels.ts';
import { MatcherSchema } from './rule-schema.ts';

const matches = (pattern: string, value: string) => compileLabelRegex(pattern).test(value);
/** What `(a+)+$` sends a backtracking engine into: 100,000 × `a` and a character that fails the match at the end. */
const CRAFTED = `${'a'.repeat(100_000)}!`;

describe('tag-matcher patterns (RE2)', () => {
  it('match the whole value, as ^(?:pattern)$ does, alternation included', () => {
    expect(matches('web-.*', 'web-01')).toBe(true);
    expect(matches('web-.*', 'xweb-01')).toBe(false);
    expect(matches('web', 'web-01')).toBe(false);
    for (const [value, expected] of [['eu', true], ['us', true], ['eus', false], ['xeu', false], ['eu|us', false], ['', false]] as const) {
      expect(matches('eu|us', value), value).toBe(expected);
    }
    expect(matches('5..', '503')).toBe(true);
    expect(matches('5..', '5030')).toBe(false);
    expect(matches('5..', '50')).toBe(false);
    expect(matches('', '')).toBe(true);
    expect(matches('', 'x')).toBe(false);
    expect(matches('.*', '')).toBe(true);
    // `.` does not match a newline, as in Alertmanager's `^(?:…)$`.
    expect(matches('a.b', 'a\nb')).toBe(false);
  });

  it('take RE2 character classes, repetitions and flags', () => {
    expect(matches('[0-9]{3}', '404')).toBe(true);
    expect(matches('[0-9]{3}', '40')).toBe(false);
    expect(matches('[^a-c]+', 'xyz')).toBe(true);
    expect(matches('[^a-c]+', 'xaz')).toBe(false);
    expect(matches('\\d+\\.\\d+', '1.25')).toBe(true);
    expect(matches('[[:alpha:]]+-\\w+', 'web-eu_7')).toBe(true);
    expect(matches('\\pL+', 'Zürich')).toBe(true);
    expect(matches('(?i)WEB-.*', 'web-01')).toBe(true);
    expect(matches('host-(?:a|b){1,2}', 'host-ab')).toBe(true);
    expect(matches('\\Q.*\\E', '.*')).toBe(true);
    expect(matches('\\Q.*\\E', 'anything')).toBe(false);
  });

  it('refuse invalid syntax with RE2 reason', () => {
    expect(labelRegexProblem('(')).toBe('not a regular expression (RE2 syntax): missing closing ): `(`');
    expect(labelRegexProblem('[a-')).toMatch(/^not a regular expression \(RE2 syntax\): missing closing \]/);
    expect(labelRegexProblem('a**')).toMatch(/invalid nested repetition operator/);
    expect(labelRegexProblem('x{3,2}')).toMatch(/invalid repeat count: `\{3,2\}`/);
    // Text that could pair with the anchors if it were pasted into ^(?:…)$ is refused on its own.
    expect(labelRegexProblem('a)|(b')).toMatch(/unexpected \)/);
    expect(() => compileLabelRegex('(')).toThrow(LabelRegexError);
  });

  it('say that lookaround and backreferences do not exist in RE2', () => {
    const unsupported = /is not supported; RE2 syntax, as in Prometheus and Alertmanager, matches in linear time and has no lookahead, lookbehind or backreferences$/;
    for (const [pattern, what] of [
      ['(?=web)web-.*', 'lookahead `(?=`'],
      ['(?!db).*', 'lookahead `(?!`'],
      ['.*(?<=-eu)', 'lookbehind `(?<=`'],
      ['(?<!x)y', 'lookbehind `(?<!`'],
      ['(a)\\1', 'backreference `\\1`'],
      ['(?<n>a)\\k<n>', 'backreference `\\k`'],
      ['(?P<n>a)(?P=n)', 'backreference `(?P=`'],
    ]) {
      const problem = labelRegexProblem(pattern!);
      expect(problem, pattern).toMatch(unsupported);
      expect(problem, pattern).toContain(what);
    }
  });

  it(`refuse patterns over ${MAX_LABEL_REGEX_LENGTH} characters, counted repetitions written out`, () => {
    const longest = 'x'.repeat(MAX_LABEL_REGEX_LENGTH);
    expect(labelRegexProblem(longest)).toBeUndefined();
    expect(labelRegexProblem(`${longest}y`)).toBe('too long: 1,001 characters, at most 1,000');
    expect(labelRegexProblem('.{0,255}')).toBeUndefined();
    expect(labelRegexProblem('[a-z0-9-]{1,63}')).toBeUndefined();
    expect(labelRegexProblem('([a-z0-9-]{1,63}\\.){1,4}')).toBe('too long: 2,284 characters once its counted repetitions (x{n,m}) are written out, at most 1,000');
    // 980 characters that compile to 140,000 instructions, seconds of work: refused before compiling.
    const { cpuMs } = timed(() => {
      expect(labelRegexProblem('x{1000}'.repeat(140))).toMatch(/^too long: 140,000 characters once its counted repetitions/);
      expect(labelRegexProblem('((a{100}){100}){100}')).toBe('too long: 1,020,200 characters once its counted repetitions (x{n,m}) are written out, at most 1,000');
    });
    expect(cpuMs).toBeLessThan(50);
  });

  it('count a pattern with its repetitions written out', () => {
    expect(writtenOutLength('web-.*')).toBe(6);
    expect(writtenOutLength('(ab){3}')).toBe(12);
    expect(writtenOutLength('x{2,5}y{3,}')).toBe(9);
    expect(writtenOutLength('[{]{3}')).toBe(9);
    expect(writtenOutLength('\\d{3}')).toBe(6);
    expect(writtenOutLength('\\pL{10}')).toBe(30);
    expect(writtenOutLength('a{,3}')).toBe(5);
    expect(writtenOutLength('((a{10}){10}){10}')).toBe(1220);
  });

  it('cache the compiled pattern and the refusal, and stay bounded', () => {
    expect(compileLabelRegex('cached-.*')).toBe(compileLabelRegex('cached-.*'));
    let first: unknown;
    let second: unknown;
    try {
      compileLabelRegex('(?=x)');
    } catch (err) {
      first = err;
    }
    try {
      compileLabelRegex('(?=x)');
    } catch (err) {
      second = err;
    }
    expect(first).toBeInstanceOf(LabelRegexError);
    expect(second).toBe(first);
    const oldest = compileLabelRegex('evicted-first-.*');
    for (let i = 0; i < 1500; i++) compileLabelRegex(`filler-${i}`);
    expect(compileLabelRegex('evicted-first-.*')).not.toBe(oldest);
  });
});

describe('matchesAll with regex matchers', () => {
  it('anchors, negates, and takes a missing label as the empty string', () => {
    expect(matchesAll([{ tag: 'host', op: '=~', value: 'web-.*' }], { host: 'web-1' })).toBe(true);
    expect(matchesAll([{ tag: 'host', op: '=~', value: 'web-.*' }], { host: 'a-web-1' })).toBe(false);
    expect(matchesAll([{ tag: 'host', op: '!~', value: 'web-.*' }], { host: 'db-1' })).toBe(true);
    expect(matchesAll([{ tag: 'host', op: '!~', value: 'web-.*' }], { host: 'web-1' })).toBe(false);
    expect(matchesAll([{ tag: 'region', op: '=~', value: 'eu|' }], {})).toBe(true);
    expect(matchesAll([{ tag: 'region', op: '!~', value: '.+' }], {})).toBe(true);
  });

  it('lets a pattern that is not RE2 (stored before it was checked) match nothing, whatever its op', () => {
    expect(matchesAll([{ tag: 'host', op: '=~', value: '(?=web).*' }], { host: 'web-1' })).toBe(false);
    expect(matchesAll([{ tag: 'host', op: '!~', value: '(?=web).*' }], { host: 'db-1' })).toBe(false);
  });

  it('answers (a+)+$ against a crafted 100,000-character value within milliseconds', () => {
    // The engine's code warmed up on another pattern: what is timed is the attack, not the first load of re2js.
    matchesAll([{ tag: 'host', op: '=~', value: '(b+)+$' }], { host: `${'b'.repeat(1000)}!` });
    const { elapsedMs, cpuMs } = timed(() => {
      expect(matchesAll([{ tag: 'host', op: '=~', value: '(a+)+$' }], { host: CRAFTED })).toBe(false);
      expect(matchesAll([{ tag: 'host', op: '!~', value: '(a+)+$' }], { host: CRAFTED })).toBe(true);
      expect(matchesAll([{ tag: 'host', op: '=~', value: '(a+)+$' }], { host: 'aaaa' })).toBe(true);
    });
    // ~2 ms here; the RegExp used before took seconds for 26 × `a` + `!`, and never returns for this value. CPU
    // time is what is bounded tightly, as other work on the machine stretches the wall clock.
    expect(cpuMs).toBeLessThan(250);
    expect(elapsedMs).toBeLessThan(2000);
  });
});

/** Wall-clock and CPU milliseconds that `fn` takes. */
function timed(fn: () => void): { elapsedMs: number; cpuMs: number } {
  const started = performance.now();
  const cpu = process.cpuUsage();
  fn();
  const used = process.cpuUsage(cpu);
  return { elapsedMs: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
}

describe('MatcherSchema', () => {
  it('refuses an invalid, unsupported or too long pattern on the value field', () => {
    for (const [value, reason] of [
      ['(', /^not a regular expression \(RE2 syntax\): missing closing \)/],
      ['(?!db).*', /lookahead `\(\?!` is not supported/],
      ['x'.repeat(1001), /^too long: 1,001 characters, at most 1,000$/],
    ] as const) {
      const result = MatcherSchema.safeParse({ tag: 'host', op: '=~', value });
      expect(result.success).toBe(false);
      expect(result.error!.issues).toEqual([expect.objectContaining({ path: ['value'], message: expect.stringMatching(reason) })]);
    }
  });

  it('takes any value for = and !=, and an RE2 pattern for =~ and !~', () => {
    expect(MatcherSchema.parse({ tag: 'host', op: '=', value: '(' })).toEqual({ tag: 'host', op: '=', value: '(' });
    expect(MatcherSchema.parse({ tag: 'host', op: '!~', value: '(a+)+$' })).toEqual({ tag: 'host', op: '!~', value: '(a+)+$' });
  });
});
