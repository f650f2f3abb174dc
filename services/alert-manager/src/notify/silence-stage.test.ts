import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import type { Alert, PgAlertStore, Silence } from '@terminusa/alerting';
import type { OutboxEvent } from '../outbox/outbox-event.ts';
import type { NotifyContext } from './notify-stage.ts';
import { SilenceCache, silenceStage } from './silence-stage.ts';

const NOW = Date.now();
const silence: Silence = { id: 's1', matchers: [{ tag: 'host', op: '=~', value: '(a+)+$' }], startsAt: NOW - 60_000, endsAt: NOW + 60_000, comment: 'hosts of a', createdBy: 'op' };
const store = { silences: async () => [silence] } as unknown as PgAlertStore;

function context(labels: Record<string, string>, kind: 'firing' | 'resolved' = 'firing'): NotifyContext {
  const alert: Alert = { id: 'a1', rule: 'R', severity: 'warning', state: kind, labels, value: 1, summary: '', message: '', startsAt: NOW, channels: [] };
  const event: OutboxEvent = { streamId: '1-0', stateKey: 'k', seq: 1, kind, from: kind === 'firing' ? 'pending' : 'firing', at: NOW, alert, notified: [] };
  return { event, channels: ['webhook'] };
}

describe('the silence stage with a regex matcher', () => {
  const recorded: string[] = [];
  const stage = silenceStage(new SilenceCache(store), async (_ctx, why) => void recorded.push(why));

  it('silences an alert whose label matches the whole pattern', async () => {
    const ctx = context({ host: 'aaaa' });
    await stage(ctx);
    expect(ctx.stoppedBy).toBe('silenced');
    expect(recorded).toEqual(['silenced']);
  });

  it('lets a resolution through, to the channels told of its firing: a silence added after the page left it firing for the receivers', async () => {
    const ctx = context({ host: 'aaaa' }, 'resolved');
    await stage(ctx);
    expect(ctx.stoppedBy).toBeUndefined();
  });

  it('lets an alert with a crafted 100,000-character label through within milliseconds', async () => {
    await stage(context({ host: `${'b'.repeat(1000)}!` }));
    const ctx = context({ host: `${'a'.repeat(100_000)}!` });
    const started = performance.now();
    const cpu = process.cpuUsage();
    await stage(ctx);
    const used = process.cpuUsage(cpu);
    expect(ctx.stoppedBy).toBeUndefined();
    // ~2 ms here; the backtracking RegExp used before never returned. CPU time is bounded tightly, wall time loosely.
    expect((used.user + used.system) / 1000).toBeLessThan(250);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
