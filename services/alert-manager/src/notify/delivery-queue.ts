import { createHash } from 'node:crypto';
import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Alert, alertKeys, ChannelName, Notification } from '@terminusa/alerting';
import type { Logger } from '@terminusa/runtime';
import { DeliveryError, type Channel } from './channels/index.ts';
import type { NotifyStage } from './notify-stage.ts';

/** A delivery of one notification to one channel. */
interface DeliverJob {
  channel: ChannelName;
  notification: Notification;
}
/** The end of a group's wait: its gathered alerts go out as one notification per channel. */
interface FlushJob {
  setKey: string;
  notificationId: string;
  status: Notification['status'];
  repeat: boolean;
  groupLabels: Record<string, string>;
}
/** A member of a waiting group. */
interface GroupMember {
  alert: Alert;
  channels: ChannelName[];
}

/** Settings of the delivery queue. */
export interface DeliverySettings {
  groupWaitMs: number;
  groupBy: readonly string[];
  attempts: number;
  backoffMs: number;
}

/** What deliveries report back: success and final failure per alert, for the alert history. */
export interface DeliveryReport {
  delivered(alert: Alert, notification: Notification, channel: ChannelName): Promise<void>;
  failed(alert: Alert, notification: Notification, channel: ChannelName, error: string): Promise<void>;
}

/** KEYS[1]: the group's open marker; ARGV: set key prefix, member, now, open ms. Returns the open group's start. */
const JOIN_GROUP_SCRIPT = `
local opened = redis.call('GET', KEYS[1])
if not opened then
  opened = ARGV[3]
  redis.call('SET', KEYS[1], opened, 'PX', ARGV[4])
end
local set = ARGV[1] .. ':' .. opened
redis.call('SADD', set, ARGV[2])
redis.call('PEXPIRE', set, 3600000)
return opened
`;

const hash = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 16);

/**
 * Notifications as BullMQ jobs on Redis. Each delivery is a job with a deterministic id (notification and
 * channel), so replaying an event adds nothing twice; it is retried with exponential backoff, and a channel's
 * permanent refusal ends it at once. Grouping: alerts sharing their group labels within `groupWaitMs` are
 * gathered in a Redis set and sent by one delayed flush job as one notification.
 */
export class DeliveryQueue {
  private readonly queue: Queue;
  private worker: Worker | undefined;

  constructor(
    private readonly connection: ConnectionOptions,
    private readonly prefix: string,
    private readonly redis: Redis,
    private readonly keys: Pick<ReturnType<typeof alertKeys>, 'groupOpen' | 'groupSet'>,
    private readonly settings: DeliverySettings,
    private readonly channels: ReadonlyMap<ChannelName, Channel>,
    private readonly report: DeliveryReport,
    private readonly logger: Logger,
  ) {
    this.queue = new Queue('alert-notifications', { connection, prefix });
  }

  /** The last stage of the notification path: group, or deliver at once. */
  stage(markNotified: (alert: Alert, channels: ChannelName[]) => Promise<void>): NotifyStage {
    return async (ctx) => {
      const { alert, kind, seq } = ctx.event;
      const status = kind === 'resolved' ? 'resolved' : 'firing';
      const repeat = kind === 'renotify';
      if (status === 'firing') await markNotified(alert, ctx.channels);
      const groupLabels: Record<string, string> = {};
      for (const l of this.settings.groupBy) if (alert.labels[l] !== undefined) groupLabels[l] = alert.labels[l];
      if (this.settings.groupWaitMs <= 0) {
        const notification: Notification = { id: `${alert.id}-${seq}`, status, repeat, groupLabels, alerts: [alert] };
        await this.deliverAll(notification, ctx.channels);
        return;
      }
      const now = Date.now();
      const gk = hash(`${JSON.stringify(groupLabels)}|${status}|${repeat}`);
      const wait = this.settings.groupWaitMs;
      // The first alert of a group opens it (as Alertmanager's group_wait); alerts arriving while it is open
      // join it. The group closes to newcomers just before its flush runs, so none joins a flushed group.
      const opened = Number(
        await this.redis.eval(JOIN_GROUP_SCRIPT, 1, this.keys.groupOpen(gk), this.keys.groupSet(gk), JSON.stringify({ alert, channels: ctx.channels } satisfies GroupMember), now, Math.max(1, wait - Math.min(100, wait / 10))),
      );
      const setKey = `${this.keys.groupSet(gk)}:${opened}`;
      const flush: FlushJob = { setKey, notificationId: `${gk}-${opened}`, status, repeat, groupLabels };
      await this.queue.add('flush', flush, { jobId: `flush-${gk}-${opened}`, delay: Math.max(0, opened + wait - now), removeOnComplete: { age: 86_400 }, removeOnFail: { age: 86_400 } });
    };
  }

  private async deliverAll(notification: Notification, channels: readonly ChannelName[]): Promise<void> {
    await Promise.all(
      channels.map((channel) =>
        this.queue.add('deliver', { channel, notification } satisfies DeliverJob, {
          jobId: `deliver-${notification.id}-${channel}`,
          attempts: this.settings.attempts,
          backoff: { type: 'exponential', delay: this.settings.backoffMs },
          removeOnComplete: { age: 86_400 },
          removeOnFail: { age: 7 * 86_400 },
        }),
      ),
    );
  }

  /** Starts the worker that flushes groups and delivers; a job held by a dead worker is retried after `lockMs`. */
  start(concurrency: number, lockMs: number): void {
    this.worker = new Worker(
      'alert-notifications',
      async (job: Job, token?: string) => {
        if (job.name === 'flush') return this.flush(job.data as FlushJob);
        const { channel, notification } = job.data as DeliverJob;
        const target = this.channels.get(channel);
        if (!target) throw new UnrecoverableError(`channel ${channel} is not configured`);
        try {
          await target.send(notification);
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
        for (const alert of notification.alerts) await this.report.delivered(alert, notification, channel);
      },
      { connection: this.connection, prefix: this.prefix, concurrency, lockDuration: lockMs, stalledInterval: lockMs },
    );
    this.worker.on('failed', (job, err) => {
      if (!job || job.name !== 'deliver') return;
      const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
      const { channel, notification } = job.data as DeliverJob;
      this.logger.warn('notification delivery failed', { channel, notification: notification.id, attempt: job.attemptsMade, final, error: err.message });
      if (final) for (const alert of notification.alerts) void this.report.failed(alert, notification, channel, err.message).catch(() => undefined);
    });
    this.worker.on('error', (err) => this.logger.error('delivery worker error', { err }));
  }

  private async flush(job: FlushJob): Promise<void> {
    const members = (await this.redis.smembers(job.setKey)).map((m) => JSON.parse(m) as GroupMember);
    const channels = new Set(members.flatMap((m) => m.channels));
    for (const channel of channels) {
      const alerts = members.filter((m) => m.channels.includes(channel)).map((m) => m.alert);
      await this.deliverAll({ id: job.notificationId, status: job.status, repeat: job.repeat, groupLabels: job.groupLabels, alerts }, [channel]);
    }
    await this.redis.del(job.setKey);
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
