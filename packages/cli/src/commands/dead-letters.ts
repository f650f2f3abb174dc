import type { Command } from 'commander';
import { z } from 'zod';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { UsageError } from '../errors.ts';
import { formatTime } from '../output.ts';

const Letter = z.looseObject({
  seq: z.number(),
  source: z.string(),
  storedAt: z.number(),
  subject: z.string(),
  accepted: z.number(),
  rejections: z.array(z.looseObject({ field: z.string(), reason: z.string() })),
  rejectionsNotListed: z.number().optional(),
  raw: z.string(),
  rawEncoding: z.string(),
});
const Page = z.object({ letters: z.array(Letter), before: z.number().optional() });
const Replayed = z.object({ seq: z.number(), subject: z.string() });

/** A sequence number given on the command line. */
function seqArg(text: string): number {
  const seq = Number(text);
  if (!Number.isSafeInteger(seq) || seq < 1) throw new UsageError(`a dead letter is named by its sequence number, got ${text}`);
  return seq;
}

/** `tmon dead-letters [list|show|replay]` (operator): messages the suite refused, with why, and their replay. */
export function registerDeadLetterCommands(program: Command, ctx: CommandContext): void {
  const letters = program.command('dead-letters').description('refused messages with their reasons, kept 7 days (operator)');

  withFormatOptions(
    letters
      .command('list', { isDefault: true })
      .description('the newest refused messages (GET /dead-letters)')
      .option('--source <source>', 'only those of this source')
      .option('--limit <n>', 'how many (1–500)', (n) => Number(n), 50)
      .option('--before <seq>', 'older than this sequence number (the page before, as printed)', seqArg),
  ).action(async (opts: FormatOptions & { source?: string; limit: number; before?: number }) => {
    const query = new URLSearchParams({ limit: String(opts.limit), ...(opts.source ? { source: opts.source } : {}), ...(opts.before ? { before: String(opts.before) } : {}) });
    const page = await (await ctx.client()).get(`/dead-letters?${query}`, Page);
    if (!page.letters.length && !opts.json && !opts.csv) ctx.err('no dead letters\n');
    printResult(ctx, opts, page, () => ({
      headers: ['seq', 'stored', 'source', 'subject', 'accepted', 'first reason'],
      rows: page.letters.map((l) => {
        const more = l.rejections.length - 1 + (l.rejectionsNotListed ?? 0);
        return [String(l.seq), formatTime(l.storedAt), l.source, l.subject, String(l.accepted), `${l.rejections[0]?.field}: ${l.rejections[0]?.reason}${more > 0 ? ` (+${more} more)` : ''}`];
      }),
    }));
    const same = `${opts.source ? ` --source ${opts.source}` : ''}${opts.limit !== 50 ? ` --limit ${opts.limit}` : ''}`;
    if (page.before && !opts.json && !opts.csv) ctx.err(`older: tmon dead-letters list${same} --before ${page.before}\n`);
  });

  letters
    .command('show <seq>')
    .description('one refused message whole, as JSON: every reason and the raw body (GET /dead-letters/<seq>)')
    .action(async (seq: string) => {
      ctx.out(`${JSON.stringify(await (await ctx.client()).get(`/dead-letters/${seqArg(seq)}`, Letter), null, 2)}\n`);
    });

  letters
    .command('replay <seq>')
    .description('publish a refused message again to the subject it came on, once what refused it is fixed; it leaves the dead letters (POST /dead-letters/<seq>/replay)')
    .action(async (seq: string) => {
      const answer = await (await ctx.client()).request('POST', `/dead-letters/${seqArg(seq)}/replay`, Replayed);
      ctx.out(`replayed dead letter ${answer.seq} to ${answer.subject}\n`);
    });
}
