import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { CliError, UsageError } from '../errors.ts';
import { readInputFile } from '../read-input-file.ts';
import { EXIT } from '../exit-codes.ts';
import { formatJson, type Table } from '../output.ts';

const RuleSchema = z.looseObject({
  name: z.string(),
  type: z.string(),
  metric: z.string().optional(),
  expr: z.string().optional(),
  severity: z.string().optional(),
  aggregation: z.string().optional(),
  window: z.number().optional(),
  comparator: z.string().optional(),
  threshold: z.number().optional(),
  for: z.number().optional(),
  enabled: z.boolean().optional(),
});
const ListAnswer = z.object({ rules: z.array(z.object({ rule: RuleSchema, source: z.string(), updatedBy: z.string().nullable() })) });

/** The outcome of validating one rules file. */
export interface ValidationReport {
  file: string;
  ok: boolean;
  rules: string[];
  problems: { rule: string; field: string; reason: string }[];
}

/** The condition of a rule in one line, e.g. `avg(5m) > 90 for 2m`, `no data for 3m` or its PromQL expression. */
function condition(rule: z.infer<typeof RuleSchema>): string {
  const secs = (ms: number | undefined) => (ms ? `${ms / 1000}s` : '');
  if (rule.type === 'nodata') return `no data for ${secs(rule.for)}`;
  if (rule.type === 'promql' || rule.type === 'record') return `${rule.expr ?? '?'}${rule.for ? ` for ${secs(rule.for)}` : ''}`;
  const agg = rule.aggregation && rule.aggregation !== 'last' ? `${rule.aggregation}(${secs(rule.window)}) ` : '';
  return `${agg}${rule.comparator ?? '?'} ${rule.threshold ?? '?'}${rule.for ? ` for ${secs(rule.for)}` : ''}`;
}

/**
 * Validates a rules file offline with the alert-manager's own parser (`parseRulesFile` of `@terminusa/alerting`),
 * so a file that passes here is a file the alert-manager takes.
 */
export async function validateRulesFile(file: string): Promise<ValidationReport> {
  const text = await readInputFile(file);
  // Loaded on demand: the alerting package pulls in database drivers no other command needs.
  const { parseRulesFile, RulesFileError } = await import('@terminusa/alerting');
  try {
    return { file, ok: true, rules: parseRulesFile(text, file).map((r) => r.name), problems: [] };
  } catch (err) {
    if (!(err instanceof RulesFileError)) throw err;
    return { file, ok: false, rules: [], problems: err.problems.map(({ rule, field, reason }) => ({ rule, field, reason })) };
  }
}

/** `tmon rules list|validate|test`. */
export function registerRuleCommands(program: Command, ctx: CommandContext): void {
  const rules = program.command('rules').description('alert rules');

  withFormatOptions(rules.command('list').description('every rule, from the rules file and the API (GET /rules)')).action(async (opts: FormatOptions) => {
    const answer = await (await ctx.client()).get('/rules', ListAnswer);
    printResult(ctx, opts, answer, (): Table => ({
      headers: ['name', 'type', 'metric', 'condition', 'severity', 'enabled', 'source'],
      rows: answer.rules.map(({ rule, source }) => [rule.name, rule.type, rule.metric ?? '', condition(rule), rule.severity ?? '', rule.enabled === false ? 'no' : 'yes', source]),
    }));
  });

  rules
    .command('validate')
    .description('check rules files offline with the alert-manager\'s parser; exit 1 naming each wrong rule and field')
    .argument('<files...>', 'YAML rules files: the suite\'s (rules: [...]) or Prometheus\' (groups: [...])')
    .option('--json', 'print one report per file as JSON')
    .action(async (files: string[], opts: { json?: boolean }) => {
      const reports: ValidationReport[] = [];
      for (const file of files) reports.push(await validateRulesFile(file));
      if (opts.json) ctx.out(formatJson(reports));
      else
        for (const r of reports) {
          if (r.ok) ctx.out(`${r.file}: ok, ${r.rules.length} rule(s): ${r.rules.join(', ')}\n`);
          else ctx.err(`${r.file}: invalid\n${r.problems.map((p) => `  rule ${p.rule}: ${p.field}: ${p.reason}\n`).join('')}`);
        }
      if (reports.some((r) => !r.ok)) throw new CliError(`${reports.filter((r) => !r.ok).length} of ${reports.length} file(s) invalid`, EXIT.failure);
    });

  rules
    .command('test')
    .description('run Prometheus rule unit tests (promtool test rules files) after checking their rule files with the alert-manager\'s parser')
    .argument('<files...>', 'unit test files (rule_files, evaluation_interval, tests: [...]), as `promtool test rules` reads them')
    .action(async (files: string[]) => {
      const code = await testRuleFiles(files, ctx);
      if (code !== 0) throw new CliError('rule unit tests failed', EXIT.failure);
    });
}

/**
 * Runs `promtool test rules`-style unit test files. Every rule file they name must be one the alert-manager
 * takes (checked first, with its parser) and in Prometheus' format; the tests then run in Prometheus' own
 * `promtool` (Debian's `prometheus` package), whose PromQL engine is the reference the suite's rules follow.
 * Returns promtool's exit code.
 */
export async function testRuleFiles(files: string[], ctx: CommandContext): Promise<number> {
  const { parse } = await import('yaml');
  for (const file of files) {
    let doc: { rule_files?: string[] } | null;
    try {
      doc = parse(await readInputFile(file)) as { rule_files?: string[] } | null;
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new UsageError(`${file}: not YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    for (const ruleFile of doc?.rule_files ?? []) {
      const path = resolve(dirname(file), ruleFile);
      const report = await validateRulesFile(path);
      if (!report.ok) throw new CliError(`${path}: invalid\n${report.problems.map((p) => `  rule ${p.rule}: ${p.field}: ${p.reason}`).join('\n')}`, EXIT.failure);
      if (!/^\s*groups\s*:/m.test(await readInputFile(path))) throw new CliError(`${path}: unit tests run Prometheus rule files (groups: [...]); threshold and no-data rules of the suite's format are tested with the alert-manager's own tests`, EXIT.usage);
    }
  }
  return new Promise((done, fail) => {
    const child = spawn('promtool', ['test', 'rules', ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => ctx.out(d.toString()));
    child.stderr.on('data', (d: Buffer) => ctx.err(d.toString()));
    child.once('error', (err) => fail(new CliError(`cannot run promtool (apt-get install -y prometheus): ${err.message}`, EXIT.failure)));
    child.once('exit', (code) => done(code ?? 1));
  });
}
