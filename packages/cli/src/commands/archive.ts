import { Option, type Command } from 'commander';
import { z } from 'zod';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { UsageError } from '../errors.ts';
import { formatBytes, formatTime } from '../output.ts';
import { parseTime } from '../time-args.ts';

const TIERS = ['raw', '1m', '5m', '1h', '1d'] as const;
const ListAnswer = z.object({
  archives: z.array(z.looseObject({ tier: z.string(), file: z.string(), from: z.number(), to: z.number(), rows: z.number(), bytes: z.number(), archivedAt: z.string() })),
});
const Loaded = z.object({ rows: z.number(), files: z.number() });

/** `tmon archive list|load` (admin): metric history that retention moved to archive files. */
export function registerArchiveCommands(program: Command, ctx: CommandContext): void {
  const archive = program.command('archive').description('metric history moved out by retention (admin)');

  withFormatOptions(archive.command('list').description('archived ranges per tier (GET /archives)')).action(async (opts: FormatOptions) => {
    const answer = await (await ctx.client()).get('/archives', ListAnswer);
    if (!answer.archives.length && !opts.json && !opts.csv) ctx.err('the archive is empty\n');
    printResult(ctx, opts, answer, () => ({
      headers: ['tier', 'from', 'to', 'rows', 'size', 'archived', 'file'],
      rows: answer.archives.map((a) => [a.tier, formatTime(a.from), formatTime(a.to), String(a.rows), formatBytes(a.bytes), a.archivedAt, a.file]),
    }));
  });

  archive
    .command('load')
    .description('load archived rows of a tier between --from and --to back into the history; rows already there are skipped (POST /archives/load)')
    .addOption(new Option('--tier <tier>', 'which tier').choices(TIERS).makeOptionMandatory())
    .requiredOption('--from <time>', 'start: ISO-8601, epoch ms or a duration ago (7d)', (t) => parseTime(t))
    .requiredOption('--to <time>', 'end, same forms', (t) => parseTime(t))
    .option('--json', 'print the answer as JSON')
    .action(async (opts: { tier: string; from: number; to: number; json?: boolean }) => {
      if (opts.from >= opts.to) throw new UsageError('--from must be before --to');
      if (ctx.interactive) ctx.err(`loading ${opts.tier} ${formatTime(opts.from)} → ${formatTime(opts.to)} …\n`);
      const answer = await (await ctx.client()).request('POST', '/archives/load', Loaded, { body: { tier: opts.tier, from: opts.from, to: opts.to } });
      if (opts.json) return ctx.out(`${JSON.stringify(answer)}\n`);
      ctx.out(`loaded ${answer.rows} rows from ${answer.files} file(s) into ${opts.tier}\n`);
    });
}
