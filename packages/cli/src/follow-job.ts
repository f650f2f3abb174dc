import { Presets, SingleBar } from 'cli-progress';
import { z } from 'zod';
import { CliError } from './errors.ts';
import type { GatewayClient } from './gateway-client.ts';

/** A backup or restore job as `GET /backups/jobs/{jobId}` answers it. */
export const JobSchema = z.looseObject({
  jobId: z.string(),
  name: z.string(),
  state: z.string(),
  progress: z.unknown(),
  result: z.unknown(),
  failedReason: z.string().optional(),
});
/** A job's state. */
export type Job = z.infer<typeof JobSchema>;

/** Backups and restores report the tables done so far; backups also how many there are in all. */
const TableProgress = z.object({ tables: z.record(z.string(), z.object({ rows: z.number(), bytes: z.number() })), totalTables: z.number().int().positive().optional() });

/** How to show a job while it runs. */
export interface FollowOptions {
  /** Shown before the bar, e.g. `restore 20260101T000000Z-full`. */
  label: string;
  /** Tables the job will go through, when known: the bar's total. */
  tables?: number;
  /** Draw a progress bar (on standard error, when it is a terminal). */
  bar: boolean;
  pollMs?: number;
}

/** Polls a job until it completes (returns it) or fails (throws with the reason), with a progress bar of tables done. */
export async function followJob(client: GatewayClient, jobId: string, options: FollowOptions): Promise<Job> {
  let total = options.tables;
  // Until the total is known (given, or reported by the job) no count is shown that would read as "0 of 1".
  const count = (done: number) => (total ? ` ${done}/${total} tables |` : '');
  const bar = options.bar ? new SingleBar({ format: `${options.label} [{bar}]{count} {state} | {duration_formatted}`, stream: process.stderr, hideCursor: true }, Presets.shades_classic) : undefined;
  bar?.start(Math.max(1, total ?? 1), 0, { state: 'queued', count: count(0) });
  try {
    for (;;) {
      const job = await client.get(`/backups/jobs/${encodeURIComponent(jobId)}`, JobSchema);
      const progress = TableProgress.safeParse(job.progress);
      const done = progress.success ? Object.keys(progress.data.tables).length : 0;
      if (progress.success && progress.data.totalTables && progress.data.totalTables !== total) {
        total = progress.data.totalTables;
        bar?.setTotal(total);
      }
      const shown = Math.max(1, total ?? 1);
      if (job.state === 'completed') {
        bar?.update(shown, { state: 'completed', count: count(total ?? done) });
        return job;
      }
      if (job.state === 'failed') throw new CliError(`${options.label} failed: ${job.failedReason ?? 'no reason given'}`);
      bar?.update(Math.min(done, shown), { state: job.state, count: count(done) });
      await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
  } finally {
    bar?.stop();
  }
}
