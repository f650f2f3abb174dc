import { parser } from '@prometheus-io/lezer-promql';
import type { Config } from '@terminusa/config';
import { extrapolatedCall, RATE_FUNCTIONS, RATE_TEMPLATES, rangeOfArgument, widenedRange } from './prometheus-rates.ts';

/**
 * How the PromQL functions that the engine computes otherwise than Prometheus are asked: the settings
 * `storage.engine.rates` and `storage.engine.windowStart`, whose values and meanings the config schema states.
 */
export type QuerySemantics = Pick<Config['storage']['engine'], 'rates' | 'windowStart'>;

/** A PromQL expression as the engine is asked it, and whether Prometheus would answer it as a scalar. */
export interface EngineQuery {
  expr: string;
  /** Prometheus answers a scalar expression (`time()`, `scalar(…)`, `1 + 2`) as a scalar; the engine as a one-element vector. */
  scalar: boolean;
  /** The value of an expression that is a string literal (`"foo"`), which Prometheus answers as a string; the engine answers none. */
  string?: string;
  /** True for an expression whose value is a range vector (`x[5m]`, a subquery), which a range query refuses. */
  rangeVector?: boolean;
}

/** The expression under `PromQL` and any parentheses around it. */
function outermost(node: SyntaxNode): SyntaxNode {
  const inner = children(node).filter((c) => c.name !== 'LineComment');
  return (node.name === 'PromQL' || node.name === 'ParenExpr') && inner.length === 1 ? outermost(inner[0]!) : node;
}

const GO_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"' };

/** A PromQL string literal's value, its quotes and escapes read as Go's strconv.Unquote reads them (backquotes: raw). */
export function promqlStringValue(literal: string): string {
  const inner = literal.slice(1, -1);
  if (literal.startsWith('`')) return inner;
  return inner.replace(/\\(?:([abfnrtv\\'"])|x([0-9a-fA-F]{2})|([0-7]{3})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))/g, (_, simple, hex, octal, u4, u8) => {
    if (simple !== undefined) return GO_ESCAPES[simple]!;
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    if (octal !== undefined) return String.fromCharCode(parseInt(octal, 8));
    return String.fromCodePoint(parseInt(u4 ?? u8, 16));
  });
}

/**
 * Functions whose results the engine (VictoriaMetrics 1.79, measured function by function) names after their
 * argument's series, where Prometheus drops the name: `max_over_time(x[5m])` is `{job="a"}` there, `x{job="a"}` here.
 */
const NAME_KEEPING = new Set(['avg_over_time', 'ceil', 'clamp', 'clamp_max', 'clamp_min', 'floor', 'holt_winters', 'max_over_time', 'min_over_time', 'predict_linear', 'quantile_over_time', 'round']);

/**
 * Functions whose MetricsQL namesakes count differently, by their engine function that counts as Prometheus does:
 * MetricsQL's `changes` also counts the change from the last sample before the window into it.
 */
const PROMETHEUS_COUNTING: Readonly<Record<string, string>> = { changes: 'changes_prometheus' };

/** Aggregations whose output labels are their grouping's alone (topk, bottomk and limitk keep their series' labels). */
const GROUPING = new Set(['sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'quantile', 'count_values']);

/** Functions of scalar type in PromQL. */
const SCALAR_FUNCTIONS = new Set(['time', 'scalar', 'pi']);

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

const children = (node: SyntaxNode): SyntaxNode[] => {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
};

/** True when the call's result reaches an aggregation that drops the name anyway (`sum(max_over_time(x[5m]))`). */
function nameDroppedAbove(call: SyntaxNode, text: string): boolean {
  const aggregate = call.parent?.name === 'FunctionCallBody' ? call.parent.parent : null;
  if (aggregate?.name !== 'AggregateExpr') return false;
  const op = aggregate.getChild('AggregateOp');
  if (!op || !GROUPING.has(text.slice(op.from, op.to).toLowerCase())) return false;
  const modifier = aggregate.getChild('AggregateModifier');
  // Prometheus drops the name under `without` too; `by (__name__)` is the one grouping that keeps it.
  return !modifier || modifier.getChild('Without') !== null || !/\b__name__\b/.test(text.slice(modifier.from, modifier.to));
}

/** True when `node` is of PromQL's scalar type: a number, time(), scalar(…), pi(), or arithmetic of those alone. */
function isScalar(node: SyntaxNode, text: string): boolean {
  switch (node.name) {
    case 'PromQL':
    case 'ParenExpr':
    case 'UnaryExpr': {
      const inner = children(node).filter((c) => c.name !== 'UnaryOp' && c.name !== 'LineComment');
      return inner.length === 1 && isScalar(inner[0]!, text);
    }
    case 'NumberDurationLiteral':
      return true;
    case 'BinaryExpr':
      // Its operands are two of its children; the operator and modifiers are never scalar.
      return children(node).filter((c) => isScalar(c, text)).length === 2;
    case 'FunctionCall': {
      const id = node.getChild('FunctionIdentifier');
      return id !== null && SCALAR_FUNCTIONS.has(text.slice(id.from, id.to));
    }
    default:
      return false;
  }
}

/** The step of a subquery that gives none, as Prometheus takes it: its evaluation interval, one minute by default. */
const SUBQUERY_DEFAULT_STEP = '1m';

/**
 * The insertion giving a subquery without a step (`x[10m:]`) Prometheus' default one: the engine took the query's
 * step instead (5 min for an instant query, Grafana's for a range), and `count_over_time(vector(1)[10m:])` was 2, not 10.
 */
function defaultSubqueryStep(node: SyntaxNode, expr: string): { from: number; to: number; text: string } | undefined {
  const durations = node.getChildren('DurationExpr');
  if (durations.length !== 1) return undefined;
  const colon = expr.indexOf(':', durations[0]!.to);
  return colon < 0 || colon >= node.to ? undefined : { from: colon + 1, to: colon + 1, text: SUBQUERY_DEFAULT_STEP };
}

/**
 * `expr` rewritten so the engine answers it as Prometheus would where the two differ in shape or count: `changes`
 * becomes the engine's Prometheus-counting function, the name-keeping functions above are wrapped in
 * `label_del(…, "__name__")` (not under an aggregation that drops the name anyway, which would cost the engine its
 * streaming aggregation), and a scalar expression is flagged for its answer to be turned back into a scalar. Values
 * are the engine's, except with `rates: 'prometheus'`: then each `rate`, `increase` and `delta` of a range selector
 * is asked as Prometheus computes it (prometheus-rates.ts; docs/prometheus-api.md); and with `windowStart:
 * 'included'` every range and subquery takes its window's start in. An expression that is not PromQL (a MetricsQL
 * extension, a typo) goes to the engine as it is, which answers it or says what is wrong.
 */
export function engineQuery(expr: string, semantics: Partial<QuerySemantics> = {}): EngineQuery {
  const { rates = 'engine', windowStart = 'excluded' } = semantics;
  const tree = parser.parse(expr);
  let invalid = false;
  // Text replacing [from, to) of the expression; an insertion has from = to.
  const edits: { from: number; to: number; text: string }[] = [];
  // The WITH templates the extrapolated rates call.
  const templates = new Set<string>();
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError) invalid = true;
      if (invalid) return false;
      if (ref.name === 'SubqueryExpr') {
        const step = defaultSubqueryStep(ref.node, expr);
        if (step) edits.push(step);
      }
      if (windowStart === 'included' && (ref.name === 'MatrixSelector' || ref.name === 'SubqueryExpr')) {
        const widened = widenedRange(ref.node, expr);
        if (widened) edits.push(widened);
        return undefined;
      }
      if (ref.name !== 'FunctionCall') return undefined;
      const id = ref.node.getChild('FunctionIdentifier');
      const name = id ? expr.slice(id.from, id.to) : '';
      const range = rates === 'prometheus' && RATE_FUNCTIONS.has(name) ? rangeOfArgument(ref.node, expr, windowStart === 'included') : undefined;
      if (range) {
        const { template, call } = extrapolatedCall(name, range);
        templates.add(template);
        edits.push({ from: ref.from, to: ref.to, text: call });
        return false;
      }
      const counting = PROMETHEUS_COUNTING[name];
      if (counting) edits.push({ from: id!.from, to: id!.to, text: counting });
      if (NAME_KEEPING.has(name) && !nameDroppedAbove(ref.node, expr)) edits.push({ from: ref.from, to: ref.from, text: 'label_del(' }, { from: ref.to, to: ref.to, text: ', "__name__")' });
      return undefined;
    },
  });
  if (invalid) return { expr, scalar: false };
  let out = applyEdits(expr, edits);
  if (templates.size > 0) out = `WITH (${[...templates].map((t) => RATE_TEMPLATES[t]).join(', ')}) ${out}`;
  const top = outermost(tree.topNode);
  return {
    expr: out,
    scalar: isScalar(tree.topNode, expr),
    ...(top.name === 'StringLiteral' ? { string: promqlStringValue(expr.slice(top.from, top.to)) } : {}),
    ...(top.name === 'MatrixSelector' || top.name === 'SubqueryExpr' ? { rangeVector: true } : {}),
  };
}

/**
 * `expr` with the edits made, as made one by one from the end (an outer call opens before and closes after the inner
 * ones; of two edits at one place, the one ending first comes first), in one pass: made one by one, each copied the
 * whole text, and a long query of many calls took seconds of the event loop.
 */
function applyEdits(expr: string, edits: { from: number; to: number; text: string }[]): string {
  const inOrder = edits.sort((a, b) => b.from - a.from || b.to - a.to).reverse();
  const pieces: string[] = [];
  let at = 0;
  for (const edit of inOrder) {
    pieces.push(expr.slice(at, edit.from), edit.text);
    at = edit.to;
  }
  pieces.push(expr.slice(at));
  return pieces.join('');
}
