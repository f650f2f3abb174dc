import { createHash } from 'node:crypto';
import type { Alert, ChannelName, Notification } from '@terminusa/alerting';
import { deliveryOf, type DeliveryContext, type NotifyContext, type NotifyStage } from './notify-stage.ts';

/** How alerts are gathered into notifications (Alertmanager's group_wait and group_by). */
export interface GroupSettings {
  /** How long a group stays open after its first alert; 0 sends every alert on its own at once. */
  groupWaitMs: number;
  groupBy: readonly string[];
}

/** An alert waiting in a group, with the channels it goes to and which notification it goes out in. */
export interface GroupMember {
  alert: Alert;
  channels: ChannelName[];
  /** Absent from members an older release left waiting: their group's flush says it. */
  status?: Notification['status'];
  repeat?: boolean;
  /** When its event happened (ms), and the event's number among the alert's: a group's notifications follow their order. */
  at?: number;
  seq?: number;
}

/** The end of a group's wait: its gathered alerts go out as one notification per channel. */
export interface GroupFlush {
  /** Where the group's members wait. */
  setKey: string;
  /** The group's open marker, closed when the flush takes the members (absent from flushes queued by older releases). */
  openKey?: string;
  notificationId: string;
  /** Set by older releases, whose groups held alerts of one status and repeat flag each. */
  status?: Notification['status'];
  repeat?: boolean;
  groupLabels: Record<string, string>;
}

/** Where the alerts of open groups wait (Redis in production: RedisNotificationGroups). */
export interface NotificationGroups {
  /**
   * Adds `member` to the open group `groupKey`, opening it at `now` for `openMs` when none is open; returns when the
   * group it joined opened, and where its members wait. The same `event` joining again (a replay) gets the group it
   * joined the first time, even when that group was flushed since, so it is not sent in a second one.
   */
  join(groupKey: string, member: GroupMember, now: number, openMs: number, event: string): Promise<{ opened: number; setKey: string; openKey: string }>;
  /** The group's members, the group closed to newcomers in the same step when it is still the open one. */
  take(flush: Pick<GroupFlush, 'setKey' | 'openKey'>): Promise<GroupMember[]>;
  remove(setKey: string): Promise<void>;
}

/** What ends a group's wait (a delayed job on the delivery queue): runs `flush` once, after `delayMs`, however often it is asked. */
export interface FlushTimer {
  flushAfter(id: string, flush: GroupFlush, delayMs: number): Promise<void>;
}

/** Which of the alerts `ids` are acknowledged now. */
export type AcknowledgedAlerts = (ids: readonly string[]) => Promise<ReadonlySet<string>>;

/** The group stage: its place in the notification path, and what the timer runs at the end of a group's wait. */
export interface GroupStage {
  readonly stage: NotifyStage<NotifyContext>;
  flush(flush: GroupFlush): Promise<void>;
}

const hash = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 16);

/** Of members with the same event time, firings first and resolutions last: an alert's end never precedes its start. */
const KIND_ORDER = (m: { status: Notification['status']; repeat: boolean }) => (m.status === 'resolved' ? 2 : m.repeat ? 1 : 0);

interface Ordered {
  status: Notification['status'];
  repeat: boolean;
  at: number;
  seq: number;
  alert: Alert;
}

/**
 * A group's members in the order on-call must hear them, gathered into as few notifications as that order allows:
 * each run holds members of one kind (firing, repeat, resolved), and a member goes into the first run of its kind
 * after every run holding an event of another kind of the same alert or the same labels (an earlier episode of the
 * series) — so an alert's end comes after its start, and an episode's end before the next one's start, while a storm
 * of one kind stays one page however its events interleave with others'. Events are taken in time order, an
 * alert's own in the order of their numbers (replicas' clocks may differ by more than the events lie apart).
 */
function runsOf<M extends Ordered>(members: readonly M[]): M[][] {
  const byTime = [...members].sort((a, b) => a.at - b.at || KIND_ORDER(a) - KIND_ORDER(b) || a.alert.id.localeCompare(b.alert.id) || a.seq - b.seq);
  // Each alert's events keep the places its events took in time, in the order of their numbers.
  const ofAlert = new Map<string, { places: number[]; events: M[] }>();
  byTime.forEach((m, i) => {
    let own = ofAlert.get(m.alert.id);
    if (!own) ofAlert.set(m.alert.id, (own = { places: [], events: [] }));
    own.places.push(i);
    own.events.push(m);
  });
  const ordered = [...byTime];
  for (const { places, events } of ofAlert.values()) {
    if (events.length < 2) continue;
    events.sort((a, b) => a.seq - b.seq);
    places.forEach((place, i) => (ordered[place] = events[i]!));
  }
  // Each run's members, and the alerts and series they are of (looked up, not searched: a storm holds thousands).
  const runs: { members: M[]; status: M['status']; repeat: boolean; related: Set<string> }[] = [];
  const seriesOf = (m: M) => JSON.stringify(Object.entries(m.alert.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  for (const m of ordered) {
    const keys = [`alert:${m.alert.id}`, `series:${seriesOf(m)}`];
    const sameKind = (run: (typeof runs)[number]) => run.status === m.status && run.repeat === m.repeat;
    let after = -1;
    runs.forEach((run, i) => {
      if (!sameKind(run) && keys.some((k) => run.related.has(k))) after = i;
    });
    let target = runs.find((run, i) => i > after && sameKind(run));
    if (!target) runs.push((target = { members: [], status: m.status, repeat: m.repeat, related: new Set() }));
    target.members.push(m);
    for (const k of keys) target.related.add(k);
  }
  return runs.map((run) => run.members);
}

/**
 * Gathers alerts that share their `groupBy` labels for `groupWaitMs` (as Alertmanager's group_by and group_wait), and
 * hands each group to `next` as one notification per run of its members (runsOf) and channel, holding the run's
 * alerts sent to that channel, less the firing ones `acknowledged` meanwhile. Without a wait, each
 * alert is its own notification at once. Notification ids are deterministic (the alert's event, or the group and
 * when it opened), so a replayed event yields the same deliveries.
 */
export function groupStage(
  groups: NotificationGroups,
  timer: FlushTimer,
  settings: GroupSettings,
  next: NotifyStage<DeliveryContext>,
  acknowledged: AcknowledgedAlerts = async () => new Set(),
): GroupStage {
  const stage: NotifyStage<NotifyContext> = async (ctx) => {
    const { alert, kind, seq } = ctx.event;
    const status = kind === 'resolved' ? 'resolved' : 'firing';
    const repeat = kind === 'renotify';
    const groupLabels: Record<string, string> = {};
    for (const l of settings.groupBy) if (alert.labels[l] !== undefined) groupLabels[l] = alert.labels[l];
    if (settings.groupWaitMs <= 0) {
      const notification: Notification = { id: `${alert.id}-${seq}`, status, repeat, groupLabels, alerts: [alert] };
      await Promise.all(ctx.channels.map((channel) => next(deliveryOf(notification, channel))));
      return;
    }
    const now = Date.now();
    const gk = hash(JSON.stringify(groupLabels));
    const wait = settings.groupWaitMs;
    // The first alert of a group opens it (as Alertmanager's group_wait); alerts arriving while it is open join it.
    // The group closes to newcomers just before its flush runs, so none joins a flushed group.
    const { opened, setKey, openKey } = await groups.join(gk, { alert, channels: ctx.channels, status, repeat, at: ctx.event.at, seq }, now, Math.max(1, wait - Math.min(100, wait / 10)), `${alert.id}:${seq}`);
    await timer.flushAfter(`flush-${gk}-${opened}`, { setKey, openKey, notificationId: `${gk}-${opened}`, groupLabels }, Math.max(0, opened + wait - now));
  };

  const flush = async (job: GroupFlush): Promise<void> => {
    const members = (await groups.take(job)).map((m) => ({ ...m, status: m.status ?? job.status ?? 'firing', repeat: m.repeat ?? job.repeat ?? false, at: m.at ?? 0, seq: m.seq ?? 0 }));
    // Acknowledged while it waited (on-call saw the first page): a firing or repeat notification of it is not sent.
    const firing = members.filter((m) => m.status === 'firing');
    const acked = firing.length ? await acknowledged(firing.map((m) => m.alert.id)) : new Set<string>();
    // Runs cut before the acknowledged are left out, so a flush run again (its worker died) gives each the same id.
    for (const [i, all] of runsOf(members).entries()) {
      const run = all.filter((m) => !(m.status === 'firing' && acked.has(m.alert.id)));
      // The first keeps the group's id (and a group an older release opened, of one kind, its one notification's).
      const id = i === 0 ? job.notificationId : `${job.notificationId}-${i}`;
      for (const channel of new Set(run.flatMap((m) => m.channels))) {
        const alerts = run.filter((m) => m.channels.includes(channel)).map((m) => m.alert);
        await next(deliveryOf({ id, status: run[0]!.status, repeat: run[0]!.repeat, groupLabels: job.groupLabels, alerts }, channel));
      }
    }
    await groups.remove(job.setKey);
  };

  return { stage, flush };
}
