import { InvalidArgumentError } from 'commander';

/** A silence matcher as the gateway takes it. */
export interface MatcherArg {
  tag: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

const MATCHER = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*)$/s;

/** Parses an amtool-style matcher: `tag=value`, `tag!=value`, `tag=~regex`, `tag!~regex` (RE2); the value may be in double quotes. */
export function parseMatcherArg(text: string): MatcherArg {
  const m = MATCHER.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`expected tag=value, tag!=value, tag=~regex or tag!~regex, got "${text}"`);
  let value = m[3]!;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\"/g, '"');
  // A regex is left to the gateway to check: it takes RE2 syntax (as Prometheus and Alertmanager do), which is not
  // JavaScript's, and its 400 names the matcher and the reason (`matchers[0].value: not a regular expression …`).
  return { tag: m[1]!, op: m[2] as MatcherArg['op'], value };
}
