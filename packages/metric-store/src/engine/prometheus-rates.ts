import type { parser } from '@prometheus-io/lezer-promql';
import { prometheusDurationMs } from '@terminusa/config';

/**
 * Prometheus 2's `rate`, `increase` and `delta`, asked of the engine in MetricsQL.
 *
 * Prometheus (promql/functions.go, `extrapolatedRate`, v2.42) takes the samples in the window, the increase from the
 * first to the last of them (counter resets added back), and extrapolates it towards the window's edges: by the
 * time to an edge when that is under 1.1 average sample intervals, else by half an interval, and for counters never
 * past where the counter would have been zero; fewer than two samples give no result. MetricsQL computes these
 * functions otherwise (from the last sample before the window, not extrapolated). Its rollups give every input of
 * Prometheus' computation: the count, the first and last timestamps and the first value in the window
 * (`count_over_time`, `tfirst_over_time`, `tlast_over_time`, `first_over_time`) and the increase between the first
 * and the last sample (`increase_prometheus`, `delta_prometheus`); Prometheus' arithmetic and conditions are written
 * out on them (in shares of the sampled interval), so the answers agree but for rounding. A condition is a
 * comparison that keeps the series where it holds, `or` the other branch for the rest: MetricsQL's `default` would
 * fill only the series the comparison kept somewhere, and drop the others. They are function templates of MetricsQL's
 * WITH, defined once per query whatever the number of calls and the length of their selectors (the engine refuses
 * queries past 16 KB). The engine evaluates each rollup where it is used, eighteen per rate: several times the work
 * of its own `rate`.
 */

/** The functions computed so. */
export const RATE_FUNCTIONS: ReadonlySet<string> = new Set(['rate', 'increase', 'delta']);

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/** A range selector as a rate function's argument: its text, window, offset and `@` time. */
export interface RangeArgument {
  /** The argument as written (`x{a="b"}[5m] offset 1m @ 100`; its range a millisecond longer when `startIncluded`), asked of every rollup. */
  text: string;
  rangeMs: number;
  offsetMs: number;
  /** The end of the window before its offset, in MetricsQL, as epoch ms: `round(time() * 1000)` without `@`. */
  at: string;
}

/** Milliseconds of a range or offset as PromQL writes it (`1h30m`, or a number of seconds); undefined if it is not one. */
function durationMs(text: string): number | undefined {
  return /^\d+(\.\d+)?$/.test(text) ? Math.round(Number(text) * 1000) : prometheusDurationMs(text);
}

/**
 * The range selector a call's only argument is (through `offset` and `@`), or undefined when it is anything else
 * (a subquery, a computed duration): such calls keep the engine's semantics. With `startIncluded` its text selects a
 * sample exactly at the window's start too (see {@link widenedRange}); the window's length stays the range's.
 */
export function rangeOfArgument(call: SyntaxNode, expr: string, startIncluded = false): RangeArgument | undefined {
  const body = call.getChild('FunctionCallBody');
  const args = body ? [...childrenOf(body)].filter((c) => !['(', ')', ','].includes(c.name)) : [];
  if (args.length !== 1 || hasError(args[0]!)) return undefined;
  const arg = args[0]!;
  let node: SyntaxNode = arg;
  let offsetMs = 0;
  let at = 'round(time() * 1000)';
  for (;;) {
    if (node.name === 'OffsetExpr') {
      const keyword = node.getChild('Offset');
      const text = keyword ? expr.slice(keyword.to, node.to).replace(/\s+/g, '') : '';
      const ms = durationMs(text.replace(/^[-+]/, ''));
      if (ms === undefined) return undefined;
      offsetMs = text.startsWith('-') ? -ms : ms;
    } else if (node.name === 'StepInvariantExpr') {
      const keyword = node.getChild('At');
      const text = keyword ? expr.slice(keyword.to, node.to).replace(/\s+/g, '') : '';
      if (text === 'start()' || text === 'end()') at = `round(${text} * 1000)`;
      else if (/^[-+]?\d+(\.\d+)?$/.test(text)) at = String(Math.round(Number(text) * 1000));
      else return undefined;
    } else break;
    node = node.firstChild!;
  }
  if (node.name !== 'MatrixSelector') return undefined;
  const duration = node.getChild('DurationExpr');
  const rangeMs = duration ? durationMs(expr.slice(duration.from, duration.to)) : undefined;
  if (rangeMs === undefined || rangeMs <= 0) return undefined;
  const widened = startIncluded ? widenedRange(node, expr) : undefined;
  const text = widened ? `${expr.slice(arg.from, widened.from)}${widened.text}${expr.slice(widened.to, arg.to)}` : expr.slice(arg.from, arg.to);
  return { text, rangeMs, offsetMs, at };
}

/**
 * The edit that makes a range selector's or subquery's window (`node`) take a sample or point exactly at its start,
 * as Prometheus 2 does (`[t − d, t]`), where the engine, like Prometheus 3, leaves it out (`(t − d, t]`): its range
 * one millisecond longer, the engine's timestamps being whole milliseconds. Undefined for a computed range.
 */
export function widenedRange(node: SyntaxNode, expr: string): { from: number; to: number; text: string } | undefined {
  // A subquery's first duration is its range, the second its step.
  const duration = node.getChild('DurationExpr');
  const ms = duration ? durationMs(expr.slice(duration.from, duration.to)) : undefined;
  return ms === undefined || ms <= 0 ? undefined : { from: duration!.from, to: duration!.to, text: `${ms + 1}ms` };
}

function* childrenOf(node: SyntaxNode): Generator<SyntaxNode> {
  for (let c = node.firstChild; c; c = c.nextSibling) yield c;
}

/** Whether the parse found a mistake under `node`: the query then goes to the engine as written, for its error. */
function hasError(node: SyntaxNode): boolean {
  return node.type.isError || [...childrenOf(node)].some(hasError);
}

/**
 * The body of Prometheus' extrapolated increase of the range `__s` (a counter's: resets added back, never
 * extrapolated past its zero point; or a gauge's difference for `delta`) whose window ends at `__e` (epoch ms) and
 * is `__r` ms long. Times are whole milliseconds (the engine's timestamps, rounded back from its seconds), so that
 * the durations are exact as Prometheus' are. The extrapolation is written as shares of the sampled interval
 * (Prometheus' `extrapolateToInterval / sampledInterval`): the same value with two thirds of the rollups of the
 * straight form, since each use of a name is a pass of the engine over the window. Every name starts with `__`,
 * which Prometheus reserves, so none is a metric of a user's.
 */
function increaseBody(counter: boolean): string {
  const locals = [
    '__n = count_over_time(__s)',
    '__f = round(tfirst_over_time(__s) * 1000)',
    '__l = round(tlast_over_time(__s) * 1000)',
    `__x = ${counter ? 'increase_prometheus' : 'delta_prometheus'}(__s)`,
    '__sampled = (__l - __f) / 1000',
    '__to_start = (__f - (__e - __r)) / 1000',
    '__to_end = (__e - __l) / 1000',
    // By the time to an edge when under 1.1 average intervals, else by half an interval; one is 1 / (n - 1) of the sampled.
    '__threshold = 1.1 / (__n - 1)',
    '__half = 0.5 / (__n - 1)',
    counter
      ? '__first = first_over_time(__s), __start = (((__first / __x) < (__to_start / __sampled)) if (__first >= 0)) or (__to_start / __sampled)'
      : '__start = __to_start / __sampled',
    '__factor = 1 + ((__start < __threshold) or __half) + (((__to_end / __sampled) < __threshold) or __half)',
  ];
  return `WITH (${locals.join(', ')}) (__x * __factor) if (__n >= 2)`;
}

/** The WITH function templates the calls of {@link extrapolatedCall} use, by name. */
export const RATE_TEMPLATES: Readonly<Record<string, string>> = {
  __tmon_increase: `__tmon_increase(__s, __e, __r) = ${increaseBody(true)}`,
  __tmon_delta: `__tmon_delta(__s, __e, __r) = ${increaseBody(false)}`,
};

/** `fn` (rate, increase or delta) of `range` as Prometheus computes it: a call of one of {@link RATE_TEMPLATES}. */
export function extrapolatedCall(fn: string, range: RangeArgument): { template: string; call: string } {
  const template = fn === 'delta' ? '__tmon_delta' : '__tmon_increase';
  // The window's end: the evaluation time (or the `@` time) less the offset.
  const call = `${template}(${range.text}, ${range.at} - (${range.offsetMs}), ${range.rangeMs})`;
  return { template, call: fn === 'rate' ? `(${call} / ${range.rangeMs / 1000})` : call };
}
