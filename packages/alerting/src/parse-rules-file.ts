import { parse as parseYaml, YAMLParseError } from 'yaml';
import { describeIssues } from '@terminusa/bus';
import { fromPrometheusGroups, PrometheusRuleFileSchema } from './prometheus-rule-groups.ts';
import { RuleSchema, RulesFileSchema, type Rule } from './rule-schema.ts';

/** One problem in a rules file: which file, which rule, which field. */
export interface RuleProblem {
  file: string;
  rule: string;
  field: string;
  reason: string;
}

/** A rules file that cannot be used; the previous rules stay active. */
export class RulesFileError extends Error {
  override readonly name = 'RulesFileError';
  constructor(readonly problems: RuleProblem[]) {
    super(`invalid rules:\n${problems.map((p) => `  - ${p.file}: rule ${p.rule}: ${p.field}: ${p.reason}`).join('\n')}`);
  }
}

/**
 * Parses and validates a whole rules file, the suite's (`rules: [...]`) or Prometheus' (`groups: [...]`); any problem
 * refuses the whole file, with every problem listed.
 */
export function parseRulesFile(text: string, file: string): Rule[] {
  return parseRulesFileEntries(text, file).map((e) => e.rule);
}

/** As `parseRulesFile`, keeping each rule's input as written (what is stored, so it re-parses the same). */
export function parseRulesFileEntries(text: string, file: string): { rule: Rule; input: unknown }[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new RulesFileError([{ file, rule: '(file)', field: '(yaml)', reason: `not valid YAML${where}: ${(err as Error).message.split('\n')[0]}` }]);
  }
  const problems: RuleProblem[] = [];
  let inputs: unknown[];
  if (doc && typeof doc === 'object' && 'groups' in doc) {
    // A Prometheus rule file, loaded unchanged: its rules are turned into the suite's form, then validated alike.
    const groups = PrometheusRuleFileSchema.safeParse(doc);
    if (!groups.success) throw new RulesFileError(describeIssues(groups.error).map((i) => ({ file, rule: '(file)', field: i.field, reason: i.reason })));
    inputs = [];
    for (const converted of fromPrometheusGroups(groups.data)) {
      if (converted.ok) inputs.push(converted.input);
      else for (const p of converted.problems) problems.push({ file, rule: converted.rule, ...p });
    }
  } else {
    const top = RulesFileSchema.safeParse(doc ?? {});
    if (!top.success) throw new RulesFileError(describeIssues(top.error).map((i) => ({ file, rule: '(file)', field: i.field, reason: i.reason })));
    inputs = top.data.rules;
  }
  const rules: { rule: Rule; input: unknown }[] = [];
  const names = new Set<string>();
  inputs.forEach((raw, index) => {
    const label = typeof (raw as { name?: unknown })?.name === 'string' ? (raw as { name: string }).name : `#${index + 1}`;
    const parsed = RuleSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of describeIssues(parsed.error)) problems.push({ file, rule: label, field: issue.field, reason: issue.reason });
      return;
    }
    if (names.has(parsed.data.name)) problems.push({ file, rule: label, field: 'name', reason: 'another rule in the file has this name' });
    names.add(parsed.data.name);
    rules.push({ rule: parsed.data, input: raw });
  });
  if (problems.length) throw new RulesFileError(problems);
  return rules;
}
