/** Characters a metric pattern may contain: metric-name characters and `*` (any run of characters, possibly empty). */
const PATTERN_CHARS = /^[a-zA-Z0-9_:*]{1,200}$/;
/** Most `*` one pattern may hold; real patterns use one or two, and each costs a scan of the name. */
export const MAX_PATTERN_STARS = 8;
/** Distinct names whose outcome one set remembers; names repeat every batch, so the regexes run once per name. */
const MATCH_CACHE_SIZE = 4096;

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `pattern` is a valid metric pattern (metric-name characters, at most MAX_PATTERN_STARS `*`). */
export function isMetricPattern(pattern: string): boolean {
  return PATTERN_CHARS.test(pattern) && pattern.replace(/[^*]/g, '').length <= MAX_PATTERN_STARS;
}

/**
 * A regex that matches exactly the metric names a pattern stands for (`system_cpu_*`, `*_total`, `players_online`).
 *
 * Patterns come from clients, so `a*b*c` must not become `^a.*b.*c$`: that backtracks polynomially in the
 * number of stars. Each middle segment is instead found at its leftmost occurrence inside a lookahead and
 * consumed by backreference, which V8 never backtracks into; leftmost is always right for `*`-only globs,
 * so a test costs one scan of the name per segment.
 */
export function compileMetricPattern(pattern: string): RegExp {
  const segments = pattern.replace(/\*+/g, '*').split('*').map(escape);
  if (segments.length === 1) return new RegExp(`^${segments[0]}$`);
  const middle = segments.slice(1, -1).map((segment, i) => `(?=(.*?${segment}))\\${i + 1}`);
  return new RegExp(`^${segments[0]}${middle.join('')}.*${segments.at(-1)}$`);
}

/** A client's set of metric patterns, with the outcome per metric name cached. */
export class MetricPatternSet {
  readonly #patterns = new Map<string, RegExp>();
  readonly #outcomes = new Map<string, boolean>();

  constructor(private readonly max: number) {}

  /** Adds patterns; false (and no change) when the set would exceed its maximum. */
  add(patterns: readonly string[]): boolean {
    if (new Set([...this.#patterns.keys(), ...patterns]).size > this.max) return false;
    for (const pattern of patterns) if (!this.#patterns.has(pattern)) this.#patterns.set(pattern, compileMetricPattern(pattern));
    this.#outcomes.clear();
    return true;
  }

  /** Removes patterns (unknown ones are ignored). */
  remove(patterns: readonly string[]): void {
    for (const pattern of patterns) this.#patterns.delete(pattern);
    this.#outcomes.clear();
  }

  /** Whether a metric name matches any pattern of the set. */
  matches(name: string): boolean {
    let outcome = this.#outcomes.get(name);
    if (outcome === undefined) {
      outcome = false;
      for (const regex of this.#patterns.values()) if ((outcome = regex.test(name))) break;
      // A full cache is dropped rather than evicted piecemeal: cheap, and it refills with the names in use.
      if (this.#outcomes.size >= MATCH_CACHE_SIZE) this.#outcomes.clear();
      this.#outcomes.set(name, outcome);
    }
    return outcome;
  }

  get size(): number {
    return this.#patterns.size;
  }

  /** The patterns, in the order they were added. */
  list(): string[] {
    return [...this.#patterns.keys()];
  }
}
