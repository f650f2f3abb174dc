import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from '@terminusa/runtime';
import { DeliveryError } from './channels/index.ts';
import type { DeliveryLog } from './dedup-stage.ts';
import type { Delivery, DeliveryAttempts, DeliveryJobs, RetryPolicy } from './deliver-stage.ts';
import type { FlushTimer, GroupFlush } from './group-stage.ts';

/** The BullMQ queue of the notification path; its name is part of the Redis keys, so jobs queued before an upgrade run after it. */
const QUEUE = 'alert-notifications';

/** What the queue's worker runs: the end of a group's wait, and the attempts of deliveries. */
export interface DeliveryWork extends DeliveryAttempts {
  flush(flush: GroupFlush): Promise<void>;
}

/** BullMQ's reasons for failing a job whose workers died on it, or that started, more often than it allows. */
const STALLED_TOO_OFTEN = /(stalled|started) more than allowable limit/;

/** Tries of a group's flush, a second apart and doubling: about a minute in all. */
const FLUSH_ATTEMPTS = 6;

/**
 * The notification path's jobs on Redis (BullMQ): `deliver` jobs, one per notification and channel with that
 * delivery's id, tried with exponential backoff until one attempt succeeds, the channel refuses for good, or the
 * attempts are spent; and delayed `flush` jobs that end a group's wait. Completed deliveries are kept a day and failed
 * ones a week, which is how long a replayed delivery is recognized.
 */
export class DeliveryQueue implements DeliveryJobs, DeliveryLog, FlushTimer {
  private readonly queue: Queue;
  private worker: Worker | undefined;

  constructor(
    private readonly connection: ConnectionOptions,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.queue = new Queue(QUEUE, { connection, prefix });
  }

  async enqueue(id: string, delivery: Delivery, retry: RetryPolicy): Promise<void> {
    await this.queue.add('deliver', delivery, {
      jobId: id,
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffMs },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
    });
  }

  async has(id: string): Promise<boolean> {
    return (await this.queue.getJob(id)) !== undefined;
  }

  /** Where the job `id` stands (completed, failed, delayed, …), or undefined when there is none. */
  async state(id: string): Promise<string | undefined> {
    return (await this.queue.getJob(id))?.getState();
  }

  /**
   * Flushes a group after `delayMs`, tried again on failure (a Redis blip): tried once, a failed flush lost the whole
   * group, since a replayed event finds the same job id. A flush run again enqueues the same delivery ids, kept once.
   */
  async flushAfter(id: string, flush: GroupFlush, delayMs: number): Promise<void> {
    await this.queue.add('flush', flush, { jobId: id, delay: delayMs, attempts: FLUSH_ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 86_400 } });
  }

  /** Starts the worker; a job held by a dead worker is run again after `lockMs`. */
  start(work: DeliveryWork, concurrency: number, lockMs: number): void {
    this.worker = new Worker(
      QUEUE,
      async (job: Job, token?: string) => {
        if (job.name === 'flush') return work.flush(job.data as GroupFlush);
        try {
          await work.attempt(job.data as Delivery);
        } catch (err) {
          if (err instanceof DeliveryError && !err.retryable) throw new UnrecoverableError(err.message);
          // An open circuit defers the delivery until the breaker tries again, without spending an attempt:
          // a receiver that was down for a while still gets what happened meanwhile.
          if (err instanceof DeliveryError && err.retryAfterMs !== undefined && token) {
            await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
            throw new DelayedError();
          }
          throw err;
        }
      },
      { connection: this.connection, prefix: this.prefix, concurrency, lockDuration: lockMs, stalledInterval: lockMs },
    );
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      // Given up for good: refused, out of attempts, or held by workers that died on it more often than BullMQ allows
      // (a stalled job fails with attempts left, and such a flush was lost without a word).
      const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || STALLED_TOO_OFTEN.test(err.message) || job.attemptsMade >= (job.opts.attempts ?? 1);
      if (job.name === 'flush' && final) {
        this.logger.error('a notification group was not flushed: its notifications are not sent', { group: job.id, error: err.message });
      }
      if (job.name !== 'deliver') return;
      const delivery = job.data as Delivery;
      this.logger.warn('notification delivery failed', { channel: delivery.channel, notification: delivery.notification.id, attempt: job.attemptsMade, final, error: err.message });
      if (final) void work.gaveUp(delivery, err.message).catch((failure: unknown) => this.logger.error('a failed delivery was not recorded', { err: failure, notification: delivery.notification.id }));
    });
    this.worker.on('error', (err) => this.logger.error('delivery worker error', { err }));
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
