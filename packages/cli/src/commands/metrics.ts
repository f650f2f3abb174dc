import { Option, type Command } from 'commander';
import { z } from 'zod';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { formatNumber, formatTags, formatTime, type Table } from '../output.ts';
import { sparkline } from '../sparkline.ts';
import { parseTagArg, tagQuery } from '../tag-args.ts';
import { parseTime } from '../time-args.ts';

const Tags = z.record(z.string(), z.string());
const NamesAnswer = z.object({ names: z.array(z.string()), truncated: z.boolean() });
const CurrentAnswer = z.object({ name: z.string(), values: z.array(z.object({ tags: Tags, ts: z.number(), value: z.number() })) });
/** A history point: `[ts, value]` raw, `[start, value, min, max]` in buckets. */
const Point = z.array(z.number().nullable()).min(2);
const HistoryAnswer = z.looseObject({
  name: z.string(),
  from: z.number(),
  to: z.number(),
  tier: z.string(),
  step: z.number(),
  truncated: z.boolean(),
  series: z.array(z.object({ tags: Tags, points: z.array(Point) })),
});
type HistoryAnswer = z.infer<typeof HistoryAnswer>;

const AGGS = ['avg', 'min', 'max', 'sum'] as const;

/** Every tag key of the series, sorted: the tag columns of a table. */
function tagKeys(series: { tags: Record<string, string> }[]): string[] {
  return [...new Set(series.flatMap((s) => Object.keys(s.tags)))].sort();
}

/** The history as one row per point, a column per tag key; min and max only when the tier gives them. */
export function historyTable(answer: HistoryAnswer): Table {
  const keys = tagKeys(answer.series);
  const ranged = answer.series.some((s) => s.points.some((p) => p.length >= 4));
  return {
    headers: ['time', ...keys, 'value', ...(ranged ? ['min', 'max'] : [])],
    rows: answer.series.flatMap((s) =>
      s.points.map((p) => [formatTime(p[0]), ...keys.map((k) => s.tags[k] ?? ''), formatNumber(p[1]), ...(ranged ? [formatNumber(p[2]), formatNumber(p[3])] : [])]),
    ),
  };
}

/** One line per series: its tags, a sparkline of its values, and min, max and last. */
export function historySparklines(answer: HistoryAnswer, width: number): string {
  const label = (tags: Record<string, string>) => `${answer.name}{${formatTags(tags)}}`;
  const labelWidth = Math.max(0, ...answer.series.map((s) => label(s.tags).length));
  return answer.series
    .map((s) => {
      const values = s.points.map((p) => p[1] ?? NaN);
      const finite = values.filter(Number.isFinite);
      const stats = finite.length ? `min ${formatNumber(Math.min(...finite))}  max ${formatNumber(Math.max(...finite))}  last ${formatNumber(finite.at(-1))}` : 'no points';
      return `${label(s.tags).padEnd(labelWidth)}  ${sparkline(values, width)}  ${stats}\n`;
    })
    .join('');
}

/** `tmon metrics current` and `tmon metrics history`. */
export function registerMetricsCommands(program: Command, ctx: CommandContext): void {
  const metrics = program.command('metrics').description('current values and history of a metric');

  withFormatOptions(
    metrics
      .command('current')
      .description('the current value of every series of a metric (GET /metrics/current); without a name, the metrics there are (GET /metrics/names)')
      .argument('[name]', 'metric name, e.g. players_online')
      .option('-t, --tag <key=value>', 'only series with this tag (repeatable)', parseTagArg, {}),
  ).action(async (name: string | undefined, opts: FormatOptions & { tag: Record<string, string> }) => {
    if (name === undefined) {
      const listing = await (await ctx.client()).get('/metrics/names', NamesAnswer, { query: { limit: 1000 } });
      printResult(ctx, opts, listing, () => ({ headers: ['metric'], rows: listing.names.map((n) => [n]) }));
      if (listing.truncated && !opts.json) ctx.err('(the first 1000 names; name one to see its series)\n');
      return;
    }
    const answer = await (await ctx.client()).get('/metrics/current', CurrentAnswer, { query: { name, ...tagQuery(opts.tag, 'tag') } });
    if (!answer.values.length && !opts.json) ctx.err(`no current values of ${name}${Object.keys(opts.tag).length ? ` with ${formatTags(opts.tag)}` : ''}\n`);
    printResult(ctx, opts, answer, () => {
      const keys = tagKeys(answer.values);
      return { headers: [...keys, 'value', 'time'], rows: answer.values.map((v) => [...keys.map((k) => v.tags[k] ?? ''), formatNumber(v.value), formatTime(v.ts)]) };
    });
  });

  withFormatOptions(
    metrics
      .command('history')
      .description('points of a metric over time, as a table with a sparkline per series (GET /metrics/history)')
      .argument('<name>', 'metric name')
      .option('-t, --tag <key=value>', 'only series with this tag (repeatable)', parseTagArg, {})
      .option('--from <time>', 'start: now, a duration ago (1h, now-30m), ISO-8601 or epoch ms', (t) => parseTime(t), undefined)
      .option('--to <time>', 'end, same forms (default now)', (t) => parseTime(t), undefined)
      .option('--step <duration>', 'bucket width, e.g. 30s, 5m, 1h (answered from the rollup tiers)')
      .addOption(new Option('--agg <agg>', 'combine the series (and points within a bucket) with').choices(AGGS))
      .option('--group-by <keys>', 'comma-separated tag keys: combine series sharing them with --agg')
      .option('--limit <n>', 'most points to return', (n) => Number(n))
      .option('--no-spark', 'no sparklines under the table'),
  ).action(async (name: string, opts: FormatOptions & { tag: Record<string, string>; from?: number; to?: number; step?: string; agg?: string; groupBy?: string; limit?: number; spark: boolean }) => {
    const answer = await (await ctx.client()).get('/metrics/history', HistoryAnswer, {
      query: { name, from: opts.from, to: opts.to, step: opts.step, agg: opts.agg, groupBy: opts.groupBy, limit: opts.limit, ...tagQuery(opts.tag, 'tag') },
    });
    printResult(ctx, opts, answer, () => historyTable(answer));
    if (opts.json || opts.csv) return;
    const points = answer.series.reduce((n, s) => n + s.points.length, 0);
    ctx.err(`${answer.series.length} series, ${points} points from the ${answer.tier} tier${answer.step ? ` in steps of ${answer.step / 1000} s` : ''}${answer.truncated ? ' (truncated: narrow the range or raise --step)' : ''}\n`);
    if (opts.spark && points) ctx.out(`\n${historySparklines(answer, Math.max(10, (process.stdout.columns ?? 100) - 60))}`);
  });
}
