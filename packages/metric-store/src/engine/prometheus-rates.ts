import type { parser } from '@prometheus-io/lezer-promql';

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
 * fill only the series the comparison kept somewhere, and drop the others. The engine evaluates each rollup where it
 * is used, eighteen per rate: several times the work of its own `rate`.
 */

/** The functions computed so. */
export const RATE_FUNCTIONS: ReadonlySet<string> = new Set(['rate', 'increase', 'delta']);

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/** A range selector as a rate function's argument: its text, window, offset and `@` time. */
export interface RangeArgument {
  /** The argument as written (`x{a="b"}[5m] offset 1m @ 100`), asked of every rollup. */
  text: string;
  rangeMs: number;
  offsetMs: number;
  /** The end of the window before its offset, in MetricsQL, as epoch ms: `round(time() * 1000)` without `@`. */
  at: string;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** Milliseconds of a PromQL duration (`1h30m`, `500ms`, or a number of seconds); undefined if it is not one. */
function durationMs(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/^(\d+(ms|[smhdwy]))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|[smhdwy])/g)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

/**
 * The range selector a call's only argument is (through `offset` and `@`), or undefined when it is anything else
 * (a subquery, a computed duration): such calls keep the engine's semantics.
 */
export function rangeOfArgument(call: SyntaxNode, expr: string): RangeArgument | undefined {
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
  return { text: expr.slice(arg.from, arg.to), rangeMs, offsetMs, at };
}

function* childrenOf(node: SyntaxNode): Generator<SyntaxNode> {
  for (let c = node.firstChild; c; c = c.nextSibling) yield c;
}

/** Whether the parse found a mistake under `node`: the query then goes to the engine as written, for its error. */
function hasError(node: SyntaxNode): boolean {
  return node.type.isError || [...childrenOf(node)].some(hasError);
}

/**
 * WITH templates computing `fn` (rate, increase or delta) of `range` as Prometheus does; the last is `name`, the
 * result. Times are whole milliseconds (the engine's timestamps, rounded back from its seconds), so that the
 * durations are exact as Prometheus' are, then seconds as Prometheus divides them. The extrapolation is written
 * as shares of the sampled interval (Prometheus' `extrapolateToInterval / sampledInterval`): the same value with
 * two thirds of the rollups, since each use of a template is a pass of the engine over the window.
 */
export function extrapolatedRate(fn: string, range: RangeArgument, name: string): string[] {
  const sel = range.text;
  const v = (part: string) => `${name}_${part}`;
  const counter = fn !== 'delta';
  const templates = [
    `${v('n')} = count_over_time(${sel})`,
    `${v('f')} = round(tfirst_over_time(${sel}) * 1000)`,
    `${v('l')} = round(tlast_over_time(${sel}) * 1000)`,
    // The increase from the first sample in the window to the last, counter resets added back (delta: the difference).
    `${v('x')} = ${counter ? 'increase_prometheus' : 'delta_prometheus'}(${sel})`,
    // The window's end: the evaluation time (or the `@` time) less the offset.
    `${v('e')} = ${range.at} - (${range.offsetMs})`,
    `${v('sampled')} = (${v('l')} - ${v('f')}) / 1000`,
    `${v('to_start')} = (${v('f')} - (${v('e')} - ${range.rangeMs})) / 1000`,
    `${v('to_end')} = (${v('e')} - ${v('l')}) / 1000`,
    // Prometheus extrapolates by the time to an edge when it is under 1.1 average intervals, else by half an
    // interval; an average interval is 1 / (n - 1) of the sampled one.
    `${v('threshold')} = 1.1 / (${v('n')} - 1)`,
    `${v('half')} = 0.5 / (${v('n')} - 1)`,
  ];
  // A counter is not extrapolated to before it would have been zero (its first value over its increase, in shares).
  const start = counter
    ? `(((${v('first')} / ${v('x')}) < (${v('to_start')} / ${v('sampled')})) if (${v('first')} >= 0)) or (${v('to_start')} / ${v('sampled')})`
    : `${v('to_start')} / ${v('sampled')}`;
  if (counter) templates.push(`${v('first')} = first_over_time(${sel})`);
  templates.push(
    `${v('start')} = ${start}`,
    `${v('factor')} = 1 + ((${v('start')} < ${v('threshold')}) or ${v('half')}) + (((${v('to_end')} / ${v('sampled')}) < ${v('threshold')}) or ${v('half')})`,
    `${name} = (${v('x')} * ${v('factor')}${fn === 'rate' ? ` / ${range.rangeMs / 1000}` : ''}) if (${v('n')} >= 2)`,
  );
  return templates;
}
