import { Option, type Command } from 'commander';
import { z } from 'zod';
// The dependency-free entry, not the package index: that would load the NATS client at every start of the CLI.
import { ACTIVE_ALERT_STATES, SEVERITIES } from '@terminusa/bus/alert-vocabulary';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { formatNumber, formatTags, formatTime, type Table } from '../output.ts';
import { parseTagArg, tagQuery } from '../tag-args.ts';
import { parseTime } from '../time-args.ts';

const AlertSchema = z.looseObject({
  id: z.string(),
  rule: z.string(),
  severity: z.string(),
  state: z.string(),
  labels: z.record(z.string(), z.string()),
  value: z.number().nullable(),
  summary: z.string(),
  startsAt: z.number(),
  firedAt: z.number().nullish(),
  resolvedAt: z.number().nullish(),
  ack: z.object({ by: z.string(), at: z.number(), comment: z.string().optional() }).nullish(),
});
type AlertRow = z.infer<typeof AlertSchema>;
const ActiveAnswer = z.object({ alerts: z.array(AlertSchema) });
const HistoryAnswer = z.object({ alerts: z.array(AlertSchema.extend({ events: z.array(z.unknown()).optional() })), next: z.string().nullable() });
const AckAnswer = z.looseObject({ ok: z.literal(true), state: z.string() });

/** Alerts as a table: one row each, newest state and who acknowledged it. */
export function alertTable(alerts: AlertRow[]): Table {
  return {
    headers: ['id', 'rule', 'severity', 'state', 'since', 'value', 'acked by', 'labels', 'summary'],
    rows: alerts.map((a) => [a.id, a.rule, a.severity, a.state, formatTime(a.firedAt ?? a.startsAt), formatNumber(a.value), a.ack?.by ?? '', formatTags(a.labels), a.summary]),
  };
}

/** `tmon alerts list|history|ack`. */
export function registerAlertCommands(program: Command, ctx: CommandContext): void {
  const alerts = program.command('alerts').description('active alerts, their history, acknowledgement');

  withFormatOptions(
    alerts
      .command('list')
      .description('active (pending and firing) alerts (GET /alerts/active)')
      .addOption(new Option('--severity <severity>').choices(SEVERITIES))
      .addOption(new Option('--state <state>').choices(ACTIVE_ALERT_STATES))
      .option('-l, --label <key=value>', 'only alerts with this label (repeatable)', parseTagArg, {}),
  ).action(async (opts: FormatOptions & { severity?: string; state?: string; label: Record<string, string> }) => {
    const answer = await (await ctx.client()).get('/alerts/active', ActiveAnswer, { query: { severity: opts.severity, state: opts.state, ...tagQuery(opts.label, 'label') } });
    printResult(ctx, opts, answer, () => alertTable(answer.alerts));
  });

  withFormatOptions(
    alerts
      .command('history')
      .description('alerts that started between --from and --to, newest first (GET /alerts/history)')
      .option('--from <time>', 'start: now, a duration ago (1d, now-6h), ISO-8601 or epoch ms (default 1 day before --to)', (t) => parseTime(t), undefined)
      .option('--to <time>', 'end, same forms (default now)', (t) => parseTime(t), undefined)
      .addOption(new Option('--severity <severity>').choices(SEVERITIES))
      .option('--rule <name>', 'only alerts of this rule')
      .option('--limit <n>', 'most alerts, 1 to 500', '100')
      .option('--before <cursor>', 'the next page: the cursor printed after the previous one'),
  ).action(async (opts: FormatOptions & { from?: number; to?: number; severity?: string; rule?: string; limit: string; before?: string }) => {
    const answer = await (await ctx.client()).get('/alerts/history', HistoryAnswer, {
      query: { from: opts.from, to: opts.to, severity: opts.severity, rule: opts.rule, limit: opts.limit, before: opts.before },
    });
    printResult(ctx, opts, answer, () => {
      const table = alertTable(answer.alerts);
      return { headers: [...table.headers, 'resolved'], rows: table.rows.map((r, i) => [...r, formatTime(answer.alerts[i]!.resolvedAt)]) };
    });
    if (answer.next && !opts.json) ctx.err(`more: tmon alerts history --before ${answer.next}\n`);
  });

  alerts
    .command('ack')
    .description('acknowledge an active alert: its re-notification stops (POST /alerts/{id}/ack, operator)')
    .argument('<id>', 'the alert id (see tmon alerts list)')
    .option('-c, --comment <text>', 'why, for the others on call')
    .action(async (id: string, opts: { comment?: string }) => {
      const answer = await (await ctx.client()).request('POST', `/alerts/${encodeURIComponent(id)}/ack`, AckAnswer, { body: opts.comment ? { comment: opts.comment } : {} });
      ctx.err(`acknowledged ${id} (${answer.state})\n`);
    });
}
