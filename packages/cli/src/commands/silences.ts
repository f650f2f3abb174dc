import type { Command } from 'commander';
import { z } from 'zod';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { UsageError } from '../errors.ts';
import { parseMatcherArg, type MatcherArg } from '../matcher-args.ts';
import { formatTime, type Table } from '../output.ts';
import { parseDuration, parseTime } from '../time-args.ts';

const SilenceSchema = z.looseObject({
  id: z.string(),
  matchers: z.array(z.object({ tag: z.string(), op: z.string(), value: z.string() })),
  startsAt: z.number(),
  endsAt: z.number(),
  comment: z.string(),
  createdBy: z.string(),
});
type SilenceRow = z.infer<typeof SilenceSchema>;
const ListAnswer = z.object({ silences: z.array(SilenceSchema) });
const AddAnswer = z.object({ silence: SilenceSchema, matchesActive: z.array(z.string()) });

/** A matcher as written on the command line (`job=~"api.*"`). */
function formatMatcher(m: { tag: string; op: string; value: string }): string {
  return `${m.tag}${m.op}${JSON.stringify(m.value)}`;
}

/** Silences as a table. */
export function silenceTable(silences: SilenceRow[]): Table {
  return {
    headers: ['id', 'matchers', 'starts', 'ends', 'created by', 'comment'],
    rows: silences.map((s) => [s.id, s.matchers.map(formatMatcher).join(' '), formatTime(s.startsAt), formatTime(s.endsAt), s.createdBy, s.comment]),
  };
}

/** `tmon silences list|add|expire`. */
export function registerSilenceCommands(program: Command, ctx: CommandContext): void {
  const silences = program.command('silences').description('mute notifications of matching alerts for a while');

  withFormatOptions(silences.command('list').description('silences that have not ended (GET /silences)')).action(async (opts: FormatOptions) => {
    const answer = await (await ctx.client()).get('/silences', ListAnswer);
    printResult(ctx, opts, answer, () => silenceTable(answer.silences));
  });

  silences
    .command('add')
    .description('silence alerts matching every matcher; prints the new silence id (POST /silences, operator)')
    .argument('<matchers...>', 'tag=value, tag!=value, tag=~regex or tag!~regex (quote them for the shell)', (text: string, previous: MatcherArg[] | undefined) => [...(previous ?? []), parseMatcherArg(text)])
    .requiredOption('-c, --comment <text>', 'why (required)')
    .option('-d, --duration <duration>', 'how long, e.g. 30m, 2h, 1d (default 1h unless --end)')
    .option('--start <time>', 'when it starts (default now): ISO-8601, epoch ms or a duration ago', (t) => parseTime(t), undefined)
    .option('--end <time>', 'when it ends instead of --duration: ISO-8601 or epoch ms', (t) => parseTime(t), undefined)
    .option('--json', 'print the created silence as JSON')
    .action(async (matchers: MatcherArg[], opts: { comment: string; duration?: string; start?: number; end?: number; json?: boolean }) => {
      if (opts.duration && opts.end !== undefined) throw new UsageError('give --duration or --end, not both');
      const seconds = opts.end === undefined ? Math.round(parseDuration(opts.duration ?? '1h') / 1000) : undefined;
      const answer = await (await ctx.client()).request('POST', '/silences', AddAnswer, {
        body: { matchers, comment: opts.comment, ...(opts.start !== undefined ? { startsAt: opts.start } : {}), ...(opts.end !== undefined ? { endsAt: opts.end } : { duration: seconds }) },
      });
      if (opts.json) return ctx.out(`${JSON.stringify(answer, null, 2)}\n`);
      ctx.out(`${answer.silence.id}\n`);
      ctx.err(`silenced until ${formatTime(answer.silence.endsAt)}; matches ${answer.matchesActive.length} active alert(s)\n`);
    });

  silences
    .command('expire')
    .description('end silences now (DELETE /silences/{id}, operator)')
    .argument('<ids...>', 'silence ids (see tmon silences list)')
    .action(async (ids: string[]) => {
      const client = await ctx.client();
      for (const id of ids) {
        await client.request('DELETE', `/silences/${encodeURIComponent(id)}`, z.unknown());
        ctx.err(`expired ${id}\n`);
      }
    });
}
