import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { alertKeys } from '@terminusa/alerting';
import type { GroupFlush, GroupMember, NotificationGroups } from './group-stage.ts';

/** Opens a group or joins the open one, atomically, so alerts of concurrent replicas land in one group. */
const JOIN_GROUP_SCRIPT = readFileSync(new URL('./join-group.lua', import.meta.url), 'utf8');
/** Closes a group and reads its members, atomically. */
const TAKE_GROUP_SCRIPT = readFileSync(new URL('./take-group.lua', import.meta.url), 'utf8');

/** The members of open notification groups, as Redis sets beside an expiring marker of the open group. */
export class RedisNotificationGroups implements NotificationGroups {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Pick<ReturnType<typeof alertKeys>, 'groupOpen' | 'groupSet'>,
  ) {}

  async join(groupKey: string, member: GroupMember, now: number, openMs: number, event: string): Promise<{ opened: number; setKey: string; openKey: string }> {
    const joined = `${this.keys.groupSet(groupKey)}:event:${event}`;
    const openKey = this.keys.groupOpen(groupKey);
    const setOf = (started: string) => `${this.keys.groupSet(groupKey)}:${started}`;
    // The script is told which group's set to add to; when another group is open by then, it says which, and the
    // next call names that one (a group opening or closing in between is the only reason for a second call).
    let expected = (await this.redis.get(openKey)) ?? String(now);
    for (;;) {
      const [started, added] = (await this.redis.eval(JOIN_GROUP_SCRIPT, 3, openKey, joined, setOf(expected), JSON.stringify(member), now, openMs, expected)) as [string, number];
      if (added === 1) return { opened: Number(started), setKey: setOf(started), openKey };
      expected = started;
    }
  }

  async take({ setKey, openKey }: Pick<GroupFlush, 'setKey' | 'openKey'>): Promise<GroupMember[]> {
    const members = openKey
      ? ((await this.redis.eval(TAKE_GROUP_SCRIPT, 2, openKey, setKey, setKey.slice(setKey.lastIndexOf(':') + 1))) as string[])
      : await this.redis.smembers(setKey);
    return members.map((m) => JSON.parse(m) as GroupMember);
  }

  async remove(setKey: string): Promise<void> {
    await this.redis.del(setKey);
  }
}
