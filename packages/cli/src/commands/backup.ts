import { Option, type Command } from 'commander';
import { z } from 'zod';
import { printResult, withFormatOptions, type CommandContext, type FormatOptions } from '../command-context.ts';
import { UsageError } from '../errors.ts';
import { followJob, JobSchema } from '../follow-job.ts';
import { formatBytes, formatJson, formatTable } from '../output.ts';

const BackupSchema = z.looseObject({
  id: z.string(),
  kind: z.string(),
  createdAt: z.string(),
  previous: z.string().nullable(),
  tables: z.number(),
  rows: z.number(),
  bytes: z.number(),
  files: z.number(),
  damaged: z.string().optional(),
});
const ListAnswer = z.object({ backups: z.array(BackupSchema), archives: z.array(z.object({ path: z.string(), bytes: z.number() })) });
const Queued = z.object({ jobId: z.string() });
const Verified = z.looseObject({ ok: z.literal(true), chunks: z.number(), rows: z.number(), bytes: z.number() });

/** `tmon backup run|list|verify|restore|job` (admin). */
export function registerBackupCommands(program: Command, ctx: CommandContext): void {
  const backup = program.command('backup').description('encrypted, signed backups of the suite (admin)');

  backup
    .command('run')
    .description('take a backup now and wait for it, with progress (POST /backups); prints the backup id')
    .addOption(new Option('--kind <kind>', 'full, or incremental since the last backup').choices(['full', 'incremental']).default('full'))
    .option('--include-archives', 'also back up the metric archive files')
    .option('--no-wait', 'print the job id and return without waiting')
    .option('--json', 'print the finished job as JSON')
    .action(async (opts: { kind: string; includeArchives?: boolean; wait: boolean; json?: boolean }) => {
      const client = await ctx.client();
      const { jobId } = await client.request('POST', '/backups', Queued, { body: { kind: opts.kind, includeArchives: Boolean(opts.includeArchives) } });
      if (!opts.wait) return ctx.out(`${jobId}\n`);
      const job = await followJob(client, jobId, { label: `${opts.kind} backup`, bar: ctx.interactive });
      if (opts.json) return ctx.out(formatJson(job));
      const id = z.object({ id: z.string() }).safeParse(job.result);
      ctx.out(`${id.success ? id.data.id : jobId}\n`);
      ctx.err(`${opts.kind} backup taken (job ${jobId})\n`);
    });

  withFormatOptions(backup.command('list').description('complete backups, oldest first, and the archive files beside them (GET /backups)')).action(async (opts: FormatOptions) => {
    const answer = await (await ctx.client()).get('/backups', ListAnswer);
    printResult(ctx, opts, answer, () => ({
      headers: ['id', 'kind', 'created', 'previous', 'tables', 'rows', 'size', 'damaged'],
      rows: answer.backups.map((b) => [b.id, b.kind, b.createdAt, b.previous ?? '', String(b.tables), String(b.rows), formatBytes(b.bytes), b.damaged ?? '']),
    }));
    if (!opts.json && !opts.csv && answer.archives.length) ctx.out(`\n${formatTable({ headers: ['archive file', 'size'], rows: answer.archives.map((a) => [a.path, formatBytes(a.bytes)]) })}`);
  });

  backup
    .command('verify')
    .description('verify a backup completely (signature, checksums, row counts) without restoring it; exit 1 if damaged')
    .argument('<id>', 'backup id (see tmon backup list)')
    .option('--json', 'print the answer as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const answer = await (await ctx.client()).request('POST', `/backups/${encodeURIComponent(id)}/verify`, Verified);
      if (opts.json) return ctx.out(formatJson(answer));
      ctx.out(`${id}: ok, ${answer.chunks} chunks, ${answer.rows} rows, ${formatBytes(answer.bytes)}\n`);
    });

  backup
    .command('restore')
    .description('restore a backup (its chain verified first) into the live database, or into another one with --into; waits with progress')
    .argument('<id>', 'backup id')
    .option('--into <database>', 'restore into this database on the same server instead (a drill)')
    .option('-y, --yes', 'confirm restoring into the live database, whose rows are replaced')
    .option('--no-wait', 'print the job id and return without waiting')
    .option('--json', 'print the finished job as JSON')
    .action(async (id: string, opts: { into?: string; yes?: boolean; wait: boolean; json?: boolean }) => {
      if (!opts.into && !opts.yes) throw new UsageError('restoring into the live database replaces its rows: add --yes, or --into <database> for a drill');
      const client = await ctx.client();
      const { jobId } = await client.request('POST', `/backups/${encodeURIComponent(id)}/restore`, Queued, { body: { confirm: true, ...(opts.into ? { intoDatabase: opts.into } : {}) } });
      if (!opts.wait) return ctx.out(`${jobId}\n`);
      const listed = (await client.get('/backups', ListAnswer)).backups.find((b) => b.id === id);
      const job = await followJob(client, jobId, { label: `restore ${id}`, tables: listed?.tables, bar: ctx.interactive });
      if (opts.json) return ctx.out(formatJson(job));
      ctx.err(`restored ${id} into ${opts.into ?? 'the live database'} (job ${jobId})\n`);
    });

  backup
    .command('job')
    .description('the state and progress of a backup or restore job (GET /backups/jobs/{jobId})')
    .argument('<jobId>', 'the job id printed by --no-wait')
    .action(async (jobId: string) => {
      ctx.out(formatJson(await (await ctx.client()).get(`/backups/jobs/${encodeURIComponent(jobId)}`, JobSchema)));
    });
}
