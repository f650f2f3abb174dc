import { InvalidArgumentError } from 'commander';

/** A silence matcher as the gateway takes it. */
export interface MatcherArg {
  tag: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

const MATCHER = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*)$/s;

/** Parses an amtool-style matcher: `tag=value`, `tag!=value`, `tag=~regex`, `tag!~regex`; the value may be in double quotes. */
export function parseMatcherArg(text: string): MatcherArg {
  const m = MATCHER.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`expected tag=value, tag!=value, tag=~regex or tag!~regex, got "${text}"`);
  let value = m[3]!;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\"/g, '"');
  const op = m[2] as MatcherArg['op'];
  if (op === '=~' || op === '!~') {
    try {
      new RegExp(value);
    } catch (err) {
      throw new InvalidArgumentError(`"${value}" is not a regular expression: ${(err as Error).message}`);
    }
  }
  return { tag: m[1]!, op, value };
}
