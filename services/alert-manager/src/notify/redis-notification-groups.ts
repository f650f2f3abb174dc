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
    const opened = Number(await this.redis.eval(JOIN_GROUP_SCRIPT, 2, openKey, joined, this.keys.groupSet(groupKey), JSON.stringify(member), now, openMs));
    return { opened, setKey: `${this.keys.groupSet(groupKey)}:${opened}`, openKey };
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
