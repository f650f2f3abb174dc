import { parser } from '@prometheus-io/lezer-promql';

/**
 * The longest PromQL expression taken, in UTF-16 units: the engine's own limit (`-search.maxQueryLen`, 16 KiB by
 * default), which a rule's `expr` and a query through the gateway's Prometheus API alike are checked against before
 * they are parsed (a megabyte of calls took a second of the event loop).
 */
export const MAX_PROMQL_LENGTH = 16_384;

/**
 * Why `expr` is not PromQL, or undefined when it parses: checked with the Prometheus project's own grammar (the
 * one its web UI uses), so a rules file can be validated offline, without an engine.
 */
export function promqlSyntaxError(expr: string): string | undefined {
  let at: number | undefined;
  parser.parse(expr).iterate({
    enter: (node) => {
      if (at === undefined && node.type.isError) at = node.from;
      return at === undefined;
    },
  });
  if (at === undefined) return undefined;
  return at >= expr.length ? 'not valid PromQL: unexpected end of expression' : `not valid PromQL at character ${at + 1}: ${JSON.stringify(expr.slice(at, at + 20))}`;
}
