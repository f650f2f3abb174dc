import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RuleSchema, type Alert } from '@terminusa/alerting';
import { STALE_MARKER, type Sample } from '@terminusa/bus';
import { useTestNamespace, type TestNamespace } from '@terminusa/testkit';
import { decodeOutboxEvent, type OutboxEvent } from '../outbox/outbox-event.ts';
import { RuleSet } from '../rules/rule-set.ts';
import type { NotifyContext } from '../notify/notify-stage.ts';
import { FiringNotRelayedYet, routeStage } from '../notify/route-stage.ts';
import { SuppressedAlerts } from '../notify/suppressed-alerts.ts';
import { AlertStateCommands } from './alert-state-commands.ts';
import { evaluateBatch } from './evaluate-batch.ts';
import { endAlertsOfMissingRules, retimeNoDataRecords, sweepTimers } from './sweep-timers.ts';

const T0 = Date.UTC(2026, 5, 1, 12);
const S = 1000;

let ns: TestNamespace;
let redis: Redis;
let replica: Redis;
let cases = 0;

// Two clients, as two replicas of the alert-manager have.
useTestNamespace((opened) => {
  ns = opened;
  redis = ns.redis();
  replica = ns.redis();
});

/** The alert-state commands of one test: its own key prefix inside the namespace, on `client` (one per replica). */
function commands(client = redis, prefix = `${ns.config.redis.prefix}case${++cases}:`): AlertStateCommands {
  return new AlertStateCommands(client, prefix);
}

const rules = (...inputs: Record<string, unknown>[]) => new RuleSet(inputs.map((r) => RuleSchema.parse(r)));
const sample = (name: string, value: number, tags: Record<string, string>, ts: number): Sample => ({ name, value, tags, ts });
/** Evaluates `samples` as the stream does, with series never stale (a day) unless `staleAfter` (seconds) says otherwise. */
const evaluate = (state: AlertStateCommands, set: RuleSet, now: number, ...samples: Sample[]) => evaluateBatch(samples, set, state, { ...ns.config.alerts, staleAfter: 86_400 }, now);

/** Every entry of the outbox, oldest first. */
async function outbox(state: AlertStateCommands): Promise<OutboxEvent[]> {
  return (await state.redis.xrange(state.keys.outbox, '-', '+')).map(([id, fields]) => decodeOutboxEvent(id, fields));
}

/** The transitions in the outbox, as `kind from→to`. */
async function transitions(state: AlertStateCommands): Promise<string[]> {
  return (await outbox(state)).map((e) => `${e.kind} ${e.from}→${e.alert.state}`);
}

/** The state hash of one group of a rule. */
const stateOf = (state: AlertStateCommands, rule: string, group: Record<string, string>) => state.redis.hgetall(state.keys.state(rule, JSON.stringify(group)));

describe('the alert-state scripts', () => {
  const hot = { name: 'Hot', metric: 'cpu', comparator: '>', threshold: 90, severity: 'critical', summary: '{{host}} at {{value}}', channels: ['webhook'] };

  it('fire at once on a breach of a rule without `for`, writing the transition with everything the relay needs', async () => {
    const state = commands();
    expect(await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0))).toBe(1);

    const [firing, ...more] = await outbox(state);
    expect(more).toEqual([]);
    expect(firing).toMatchObject({ kind: 'firing', from: 'inactive', seq: 1, at: T0, notified: [], stateKey: state.keys.state('Hot', '{"host":"a"}') });
    expect(firing!.alert).toMatchObject({ rule: 'Hot', severity: 'critical', state: 'firing', labels: { host: 'a', alertname: 'Hot' }, value: 95, summary: 'a at 95', startsAt: T0, firedAt: T0, channels: ['webhook'] });
    // The active set, the id index and the re-notification timer move with the transition.
    expect(await redis.zrange(state.keys.active, 0, -1)).toEqual([firing!.stateKey]);
    expect(await redis.hget(state.keys.ids, firing!.alert.id)).toBe(firing!.stateKey);
    expect(Number(await redis.zscore(state.keys.timers, firing!.stateKey))).toBe(T0 + ns.config.alerts.levels.critical.timeout * S);

    // A later breach of a firing alert is no transition.
    await evaluate(state, rules(hot), T0 + S, sample('cpu', 99, { host: 'a' }, T0 + S));
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
    expect((await stateOf(state, 'Hot', { host: 'a' })).value).toBe('99');
  });

  it('keep a rule with `for` pending, then fire by the timer sweep once `for` has passed', async () => {
    const state = commands();
    const slow = rules({ ...hot, name: 'Slow', for: '30s' });
    await evaluate(state, slow, T0, sample('cpu', 95, { host: 'a' }, T0), sample('cpu', 95, { host: 'b' }, T0));
    await evaluate(state, slow, T0 + 10 * S, sample('cpu', 96, { host: 'a' }, T0 + 10 * S));
    expect(await transitions(state)).toEqual(['pending inactive→pending', 'pending inactive→pending']);

    expect(await sweepTimers(state, slow, T0 + 30 * S - 1)).toBe(0);
    // Both by the sweep, without a new sample.
    expect(await sweepTimers(state, slow, T0 + 30 * S)).toBe(2);
    const events = await outbox(state);
    expect(events.slice(2).map((e) => [e.kind, e.from, e.alert.labels.host, e.seq])).toEqual([
      ['firing', 'pending', 'a', 2],
      ['firing', 'pending', 'b', 2],
    ]);
    expect(events[2]!.alert.id).toBe(events[0]!.alert.id);
    expect(events[2]!.alert).toMatchObject({ startsAt: T0, firedAt: T0 + 30 * S });
  });

  it('fire a pending alert on a sample once `for` has passed', async () => {
    const state = commands();
    const slow = rules({ ...hot, name: 'Slow', for: '30s' });
    await evaluate(state, slow, T0, sample('cpu', 95, { host: 'a' }, T0));
    await evaluate(state, slow, T0 + 31 * S, sample('cpu', 95, { host: 'a' }, T0 + 31 * S));
    expect(await transitions(state)).toEqual(['pending inactive→pending', 'firing pending→firing']);
  });

  it('end a pending alert whose condition clears before `for`, leaving no state behind but its newest sample’s time, for a while', async () => {
    const state = commands();
    const slow = rules({ ...hot, name: 'Slow', for: '30s' });
    await evaluate(state, slow, T0, sample('cpu', 95, { host: 'a' }, T0));
    await evaluate(state, slow, T0 + 5 * S, sample('cpu', 20, { host: 'a' }, T0 + 5 * S));
    expect(await transitions(state)).toEqual(['pending inactive→pending', 'inactive pending→inactive']);
    expect(await stateOf(state, 'Slow', { host: 'a' })).toEqual({ lastTs: String(T0 + 5 * S) });
    expect(await redis.pttl(state.keys.state('Slow', JSON.stringify({ host: 'a' })))).toBeGreaterThan(0);
    expect(await redis.zcard(state.keys.active)).toBe(0);
    expect(await redis.hlen(state.keys.ids)).toBe(0);
    expect(await redis.zcard(state.keys.timers)).toBe(0);
  });

  it('resolve a firing alert when its condition clears; the next breach is a new alert', async () => {
    const state = commands();
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    await evaluate(state, rules(hot), T0 + S, sample('cpu', 10, { host: 'a' }, T0 + S));
    const [firing, resolved] = await outbox(state);
    expect(resolved).toMatchObject({ kind: 'resolved', from: 'firing', seq: 2, at: T0 + S });
    expect(resolved!.alert).toMatchObject({ id: firing!.alert.id, state: 'resolved', resolvedAt: T0 + S, value: 10 });
    expect(await stateOf(state, 'Hot', { host: 'a' })).toEqual({ lastTs: String(T0 + S) });
    expect(await redis.zcard(state.keys.active)).toBe(0);
    expect(await redis.zcard(state.keys.timers)).toBe(0);

    await evaluate(state, rules(hot), T0 + 2 * S, sample('cpu', 95, { host: 'a' }, T0 + 2 * S));
    const again = (await outbox(state))[2]!;
    expect(again).toMatchObject({ kind: 'firing', from: 'inactive', seq: 1 });
    expect(again.alert.id).not.toBe(firing!.alert.id);
  });

  it('start no new alert on an older sample after a resolution (redelivered, or from another replica’s batch)', async () => {
    const state = commands();
    await evaluate(state, rules(hot), T0 + 10 * S, sample('cpu', 95, { host: 'a' }, T0 + 10 * S));
    await evaluate(state, rules(hot), T0 + 11 * S, sample('cpu', 10, { host: 'a' }, T0 + 11 * S));
    await evaluate(state, rules(hot), T0 + 12 * S, sample('cpu', 95, { host: 'a' }, T0));
    expect(await transitions(state)).toEqual(['firing inactive→firing', 'resolved firing→resolved']);
  });

  it('keep the record of a series that never breached only while its samples come (staleAfter), not for ever', async () => {
    const state = commands();
    await evaluateBatch([sample('cpu', 10, { host: 'quiet' }, T0)], rules(hot), state, { ...ns.config.alerts, staleAfter: 300 }, T0);
    const key = state.keys.state('Hot', JSON.stringify({ host: 'quiet' }));
    expect(await redis.hget(key, 'lastTs')).toBe(String(T0));
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(290_000);
    expect(ttl).toBeLessThanOrEqual(300_000);
    // Once it breaches, the alert's record is kept until the alert ends.
    await evaluateBatch([sample('cpu', 95, { host: 'quiet' }, T0 + S)], rules(hot), state, { ...ns.config.alerts, staleAfter: 300 }, T0 + S);
    expect(await redis.pttl(key)).toBe(-1);
  });

  it('leave an alert as it is on a staleness marker: it says the series stopped, not what it measured', async () => {
    const state = commands();
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    expect(await evaluate(state, rules(hot), T0 + S, sample('cpu', STALE_MARKER, { host: 'a' }, T0 + S))).toBe(0);
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
    expect((await stateOf(state, 'Hot', { host: 'a' })).value).toBe('95');
  });

  it('damp flapping with keep_firing_for: a firing alert stays firing through short clears and resolves after the last', async () => {
    const state = commands();
    const flappy = rules({ ...hot, name: 'Flappy', keepFiringFor: '10s' });
    const at = (s: number, value: number) => evaluate(state, flappy, T0 + s * S, sample('cpu', value, { host: 'a' }, T0 + s * S));
    await at(0, 95);
    await at(1, 10);
    expect((await stateOf(state, 'Flappy', { host: 'a' })).keepUntil).toBe(String(T0 + 11 * S));
    await at(2, 95);
    expect((await stateOf(state, 'Flappy', { host: 'a' })).keepUntil).toBe('');
    await at(3, 10);
    await at(12, 10);
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
    await at(13, 10);
    expect(await transitions(state)).toEqual(['firing inactive→firing', 'resolved firing→resolved']);
  });

  it('resolve a kept alert by the timer sweep when keep_firing_for ends without samples', async () => {
    const state = commands();
    const flappy = rules({ ...hot, name: 'Flappy', keepFiringFor: '10s' });
    await evaluate(state, flappy, T0, sample('cpu', 95, { host: 'a' }, T0));
    await evaluate(state, flappy, T0 + S, sample('cpu', 10, { host: 'a' }, T0 + S));
    expect(await sweepTimers(state, flappy, T0 + 11 * S - 1)).toBe(0);
    expect(await sweepTimers(state, flappy, T0 + 11 * S)).toBe(1);
    expect(await transitions(state)).toEqual(['firing inactive→firing', 'resolved firing→resolved']);
  });

  it('re-notify an unacknowledged firing alert when due, and stop once it is acknowledged', async () => {
    const state = commands();
    const renotifyMs = ns.config.alerts.levels.critical.timeout * S;
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    const id = (await outbox(state))[0]!.alert.id;

    expect(await sweepTimers(state, rules(hot), T0 + renotifyMs)).toBe(1);
    const stateKey = state.keys.state('Hot', '{"host":"a"}');
    expect(Number(await redis.zscore(state.keys.timers, stateKey))).toBe(T0 + 2 * renotifyMs);

    expect(await state.ack(id, 'oncall', 'looking', T0 + renotifyMs + S)).toBe('firing');
    expect(await state.ack(id, 'someone-else', undefined, T0 + renotifyMs + 2 * S)).toBe('already');
    // Acknowledged, it is re-notified no more: its one timer left is its series going stale (a day, in these tests).
    expect(Number(await redis.zscore(state.keys.timers, stateKey))).toBe(T0 + 86_400 * S);
    expect(await sweepTimers(state, rules(hot), T0 + 3 * renotifyMs)).toBe(0);

    const events = await outbox(state);
    expect(events.map((e) => `${e.kind} ${e.from}→${e.alert.state}`)).toEqual(['firing inactive→firing', 'renotify firing→firing', 'acknowledged firing→firing']);
    expect(events[2]!.alert.ack).toEqual({ by: 'oncall', at: T0 + renotifyMs + S, comment: 'looking' });

    // Resolved, it cannot be acknowledged; nor can an alert that never was.
    await evaluate(state, rules(hot), T0 + 3 * renotifyMs, sample('cpu', 10, { host: 'a' }, T0 + 3 * renotifyMs));
    expect((await outbox(state)).at(-1)!.alert.ack).toEqual({ by: 'oncall', at: T0 + renotifyMs + S, comment: 'looking' });
    expect(await state.ack(id, 'oncall', undefined, T0 + 4 * renotifyMs)).toBe('missing');
    expect(await state.ack('00000000-0000-4000-8000-000000000000', 'oncall', undefined, T0)).toBe('missing');
  });

  it('acknowledge a pending alert too, and a breach after its resolution starts unacknowledged', async () => {
    const state = commands();
    const slow = rules({ ...hot, name: 'Slow', for: '30s' });
    await evaluate(state, slow, T0, sample('cpu', 95, { host: 'a' }, T0));
    const id = (await outbox(state))[0]!.alert.id;
    expect(await state.ack(id, 'oncall', undefined, T0 + S)).toBe('pending');
    await evaluate(state, slow, T0 + 2 * S, sample('cpu', 10, { host: 'a' }, T0 + 2 * S));
    await evaluate(state, slow, T0 + 3 * S, sample('cpu', 95, { host: 'a' }, T0 + 3 * S));
    const events = await outbox(state);
    expect(events.map((e) => e.kind)).toEqual(['pending', 'acknowledged', 'inactive', 'pending']);
    expect(events[3]!.alert.ack).toBeUndefined();
  });

  it('fire a no-data alert when a group goes quiet for the rule’s duration, resolve it when data returns, and watch again', async () => {
    const state = commands();
    const heartbeat = rules({ name: 'Quiet', type: 'nodata', metric: 'heartbeat', groupBy: ['svc'], for: '5s', severity: 'warning', channels: ['webhook'] });
    await evaluate(state, heartbeat, T0, sample('heartbeat', 1, { svc: 'x', pod: 'p1' }, T0));
    expect(await transitions(state)).toEqual([]);
    expect((await stateOf(state, 'Quiet', { svc: 'x' })).state).toBe('inactive');

    expect(await sweepTimers(state, heartbeat, T0 + 5 * S - 1)).toBe(0);
    await sweepTimers(state, heartbeat, T0 + 5 * S);
    await evaluate(state, heartbeat, T0 + 6 * S, sample('heartbeat', 1, { svc: 'x', pod: 'p2' }, T0 + 6 * S));
    await sweepTimers(state, heartbeat, T0 + 11 * S);
    const events = await outbox(state);
    expect(events.map((e) => `${e.kind} ${e.from}→${e.alert.state}`)).toEqual(['firing inactive→firing', 'resolved firing→resolved', 'firing inactive→firing']);
    expect(events[0]!.alert).toMatchObject({ labels: { svc: 'x', alertname: 'Quiet' }, startsAt: T0, firedAt: T0 + 5 * S });
    expect(events[2]!.alert.id).not.toBe(events[0]!.alert.id);
    expect(events[2]!.alert.startsAt).toBe(T0 + 6 * S);
  });

  it('let go of the groups of a no-data rule that makes its groups otherwise now, firing (acknowledged too) or watching', async () => {
    const state = commands();
    const bySvc = { name: 'Regrouped', type: 'nodata', metric: 'beat', groupBy: ['svc'], for: '5s', severity: 'warning', channels: ['webhook'] };
    await evaluate(state, rules(bySvc), T0, sample('beat', 1, { svc: 'x', pod: 'p1' }, T0), sample('beat', 1, { svc: 'y', pod: 'p1' }, T0));
    await sweepTimers(state, rules(bySvc), T0 + 5 * S);
    const fired = await outbox(state);
    expect(fired.map((e) => `${e.kind} ${e.alert.labels.svc}`).sort()).toEqual(['firing x', 'firing y']);
    expect(await state.ack(fired.find((e) => e.alert.labels.svc === 'x')!.alert.id, 'oncall', undefined, T0 + 6 * S)).toBe('firing');
    // Grouped by pod as well now: no sample maps to the old groups again, which would fire and stay firing for ever.
    const byPod = rules({ ...bySvc, groupBy: ['svc', 'pod'] });
    expect(await endAlertsOfMissingRules(state, byPod, T0 + 7 * S)).toBe(2);
    expect(await redis.zcard(state.keys.active)).toBe(0);
    await evaluate(state, byPod, T0 + 8 * S, sample('beat', 1, { svc: 'x', pod: 'p2' }, T0 + 8 * S));
    await sweepTimers(state, byPod, T0 + 100 * S);
    const after = (await outbox(state)).slice(3).map((e) => `${e.kind} ${JSON.stringify(e.alert.labels)}`);
    expect(after.filter((e) => e.startsWith('firing'))).toEqual(['firing {"pod":"p2","svc":"x","alertname":"Regrouped"}']);
    expect(after.filter((e) => e.startsWith('resolved')).sort()).toEqual(['resolved {"svc":"x","alertname":"Regrouped"}', 'resolved {"svc":"y","alertname":"Regrouped"}']);
  });

  it('keep the groups of a no-data rule whose groupBy and matchers are only reordered, and of records written before they had one order', async () => {
    const state = commands();
    const written = { name: 'Reordered', type: 'nodata', metric: 'beat', groupBy: ['svc', 'dc'], matchers: [{ tag: 'svc', op: '!=', value: 'z' }, { tag: 'dc', value: 'eu' }], for: '5s', severity: 'warning', channels: ['webhook'] };
    await evaluate(state, rules(written), T0, sample('beat', 1, { svc: 'x', dc: 'eu' }, T0));
    await sweepTimers(state, rules(written), T0 + 5 * S);
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
    const key = state.keys.state('Reordered', JSON.stringify({ dc: 'eu', svc: 'x' }));
    // The same groups: the dead group's alert stays firing (nothing would make its record again), at a new rule set and at its timer.
    const reordered = rules({ ...written, groupBy: ['dc', 'svc'], matchers: [...written.matchers].reverse() });
    expect(await endAlertsOfMissingRules(state, reordered, T0 + 6 * S)).toBe(0);
    expect(await retimeNoDataRecords(state, reordered, T0 + 6 * S)).toBe(1);
    expect((await redis.hgetall(key)).state).toBe('firing');
    // A record written before the one order carries the definition as its rule wrote it: the same definition too.
    await redis.hset(key, 'def', JSON.stringify(['beat', (RuleSchema.parse(written) as { matchers: unknown }).matchers, written.groupBy]));
    expect(await endAlertsOfMissingRules(state, rules(written), T0 + 7 * S)).toBe(0);
    expect(await retimeNoDataRecords(state, rules(written), T0 + 7 * S)).toBe(1);
    expect((await redis.hgetall(key)).state).toBe('firing');
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
  });

  it('judge a silent group by its no-data rule’s `for` as it is now, made longer or shorter', async () => {
    const state = commands();
    const quiet = { name: 'Retimed', type: 'nodata', metric: 'beat', groupBy: ['svc'], for: '3m', severity: 'warning', channels: ['webhook'] };
    await evaluate(state, rules(quiet), T0, sample('beat', 1, { svc: 'x' }, T0));
    // Made an hour for a maintenance a minute later: the silent group does not fire at 3 minutes.
    const longer = rules({ ...quiet, for: '1h' });
    await retimeNoDataRecords(state, longer, T0 + 60 * S);
    await sweepTimers(state, longer, T0 + 180 * S);
    expect(await transitions(state)).toEqual([]);
    // Made 5 minutes again: it fires at the next look, not an hour after its last sample.
    const shorter = rules({ ...quiet, for: '5m' });
    await retimeNoDataRecords(state, shorter, T0 + 200 * S);
    expect(await sweepTimers(state, shorter, T0 + 300 * S)).toBe(1);
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
  });

  it('end the alerts of a deleted rule at the next sweep', async () => {
    const state = commands();
    const slow = rules({ ...hot, name: 'Slow', for: '30s' });
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    await evaluate(state, slow, T0, sample('cpu', 95, { host: 'a' }, T0));
    expect(await state.sweep(state.keys.state('Hot', '{"host":"a"}'), 'unused', T0 + S, undefined)).toBe('removed');
    expect(await state.sweep(state.keys.state('Slow', '{"host":"a"}'), 'unused', T0 + S, undefined)).toBe('removed');
    expect(await transitions(state)).toEqual(['firing inactive→firing', 'pending inactive→pending', 'resolved firing→resolved', 'inactive pending→inactive']);
    expect(await redis.zcard(state.keys.active)).toBe(0);
    expect(await state.sweep(state.keys.state('Hot', '{"host":"a"}'), 'unused', T0 + 2 * S, undefined)).toBe('gone');
  });

  it('let go of every group of a deleted no-data rule, firing or watching, timers included', async () => {
    const state = commands();
    const heartbeat = rules({ name: 'Quiet', type: 'nodata', metric: 'heartbeat', groupBy: ['svc'], for: '5s', severity: 'warning', channels: ['webhook'] });
    await evaluate(state, heartbeat, T0, sample('heartbeat', 1, { svc: 'x' }, T0), sample('heartbeat', 1, { svc: 'y' }, T0));
    // x goes quiet and fires; y is still watched.
    await evaluate(state, heartbeat, T0 + 4 * S, sample('heartbeat', 1, { svc: 'y' }, T0 + 4 * S));
    await sweepTimers(state, heartbeat, T0 + 5 * S);
    expect((await stateOf(state, 'Quiet', { svc: 'x' })).state).toBe('firing');
    expect((await stateOf(state, 'Quiet', { svc: 'y' })).state).toBe('inactive');

    for (const svc of ['x', 'y']) expect(await state.sweep(state.keys.state('Quiet', JSON.stringify({ svc })), 'unused', T0 + 6 * S, undefined)).toBe('removed');
    for (const svc of ['x', 'y']) expect(await redis.exists(state.keys.state('Quiet', JSON.stringify({ svc })))).toBe(0);
    expect(await redis.zcard(state.keys.timers)).toBe(0);
    expect(await redis.zcard(state.keys.active)).toBe(0);
    expect((await transitions(state)).at(-1)).toBe('resolved firing→resolved');
  });

  it('keep the channels told of a firing alert, so its resolution carries them', async () => {
    const state = commands();
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    const id = (await outbox(state))[0]!.alert.id;
    await state.markNotified(id, ['webhook', 'slack']);
    // A re-notification after the rule's channels changed adds to them: Slack still hears the resolution.
    await state.markNotified(id, ['email', 'webhook']);
    // An id the state no longer holds changes nothing.
    await state.markNotified('00000000-0000-4000-8000-000000000000', ['dashboard']);
    await evaluate(state, rules(hot), T0 + S, sample('cpu', 10, { host: 'a' }, T0 + S));
    expect((await outbox(state))[1]).toMatchObject({ kind: 'resolved', notified: ['webhook', 'slack', 'email'] });
    expect(JSON.parse((await redis.get(state.keys.notified(id)))!)).toEqual(['webhook', 'slack', 'email']);
  });

  it('route a resolution written before its firing event was relayed to the channels the firing went to', async () => {
    const state = commands();
    // Fired and resolved while the relay was behind: the resolution is written with no channel told yet.
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    await evaluate(state, rules(hot), T0 + S, sample('cpu', 10, { host: 'a' }, T0 + S));
    const [firing, resolved] = await outbox(state);
    expect(resolved).toMatchObject({ kind: 'resolved', notified: [] });
    const route = routeStage(new Set(['webhook', 'email'] as const), state, () => T0 + 2 * S);
    // Relayed first (another replica has the firing event): it waits, to be tried again.
    await expect(route({ event: resolved!, channels: [] })).rejects.toThrow(FiringNotRelayedYet);
    // The firing notification goes out; the resolution tried again goes to the same channel.
    await state.markRelayed(firing!.alert.id);
    await state.markNotified(firing!.alert.id, ['webhook']);
    const ctx: NotifyContext = { event: resolved!, channels: [] };
    await route(ctx);
    expect(ctx.stoppedBy).toBeUndefined();
    expect(ctx.channels).toEqual(['webhook']);
    // A firing whose way failed before it was routed (a replica killed, a silence read failing) marked nothing:
    // its resolution waits for it to be tried again, rather than go nowhere while the firing is sent later.
    await evaluate(state, rules(hot), T0 + 2 * S, sample('cpu', 95, { host: 'b' }, T0 + 2 * S));
    await evaluate(state, rules(hot), T0 + 3 * S, sample('cpu', 10, { host: 'b' }, T0 + 3 * S));
    const [nowhereFiring, nowhereResolved] = (await outbox(state)).slice(2);
    await expect(route({ event: nowhereResolved!, channels: [] })).rejects.toThrow(FiringNotRelayedYet);
    // Routed to no channel configured here: recorded as sent nowhere, so its resolution goes nowhere, at once.
    const nowhere: NotifyContext = { event: nowhereFiring!, channels: [] };
    await routeStage(new Set(['email'] as const), state, () => T0 + 4 * S)(nowhere);
    expect(nowhere.stoppedBy).toBe('no-channel');
    const quiet: NotifyContext = { event: nowhereResolved!, channels: [] };
    await route(quiet);
    expect(quiet.stoppedBy).toBe('no-channel');
    // A firing (or repeat) relayed after its resolution was routed (retried, another replica's) is sent no more: it
    // told the receivers the alert fired again, and no resolution followed.
    const late: NotifyContext = { event: firing!, channels: [] };
    await route(late);
    expect(late.stoppedBy).toBe('resolved-already');
  });

  it('evaluate a group of a large fleet: 60,000 samples of one group in a batch (one call with them all overflowed the stack)', async () => {
    const state = commands();
    const byRegion = rules({ ...hot, name: 'RegionHot', groupBy: ['region'], summary: '{{region}} at {{value}}' });
    const batch = Array.from({ length: 60_000 }, (_, i) => sample('cpu', i === 59_999 ? 99 : 50, { host: `h${i}`, region: 'eu' }, T0 + i));
    await evaluateBatch(batch, byRegion, state, ns.config.alerts, T0 + 60_000);
    expect((await outbox(state)).map((e) => [e.kind, e.alert.value])).toEqual([['firing', 99]]);
  });

  it('aggregate a window: the average of the samples in it, older ones dropped', async () => {
    const state = commands();
    const avg = rules({ ...hot, name: 'AvgHot', aggregation: 'avg', window: '1m', threshold: 50 });
    await evaluate(state, avg, T0, sample('cpu', 40, { host: 'a' }, T0));
    await evaluate(state, avg, T0 + S, sample('cpu', 70, { host: 'a' }, T0 + S));
    expect((await outbox(state)).map((e) => [e.kind, e.alert.value])).toEqual([['firing', 55]]);
    // A minute on, only the last two samples are in the window: (70 + 20) / 2 = 45.
    await evaluate(state, avg, T0 + 61 * S, sample('cpu', 20, { host: 'a' }, T0 + 61 * S));
    expect((await outbox(state)).map((e) => [e.kind, e.alert.value])).toEqual([['firing', 55], ['resolved', 45]]);
  });

  it('aggregate a rate per second over the window, taking a drop for a counter reset', async () => {
    const state = commands();
    const rate = rules({ ...hot, name: 'Busy', metric: 'requests_total', aggregation: 'rate', window: '1m', threshold: 5 });
    await evaluate(state, rate, T0, sample('requests_total', 100, { host: 'a' }, T0), sample('requests_total', 150, { host: 'a' }, T0 + 10 * S));
    expect(await transitions(state)).toEqual([]);
    expect((await stateOf(state, 'Busy', { host: 'a' })).value).toBe('5');
    // 150 → 80 is a reset: the increase since is 80, over the 20 s from the first sample.
    await evaluate(state, rate, T0 + 20 * S, sample('requests_total', 80, { host: 'a' }, T0 + 20 * S));
    expect((await outbox(state)).map((e) => [e.kind, e.alert.value])).toEqual([]);
    expect((await stateOf(state, 'Busy', { host: 'a' })).value).toBe('4');
    await evaluate(state, rate, T0 + 30 * S, sample('requests_total', 400, { host: 'a' }, T0 + 30 * S));
    expect((await outbox(state)).map((e) => [e.kind, e.alert.value])).toEqual([['firing', 10]]);
  });

  it('apply an engine-decided condition (PromQL rules) with the same states; a clear group that is not active writes nothing', async () => {
    const state = commands();
    const meta = { rule: 'Engine', severity: 'warning', labels: '{"host":"a","alertname":"Engine"}', channels: '["webhook"]', summaryTpl: '', messageTpl: '', renotifyMs: 60_000, forMs: 10_000, keepMs: 0, type: 'promql' };
    const condition = async (now: number, breach: boolean, value: number, group = '{"host":"a"}') => {
      const pipeline = redis.pipeline();
      state.conditionIn(pipeline, 'Engine', group, randomUUID(), now, meta, breach, value);
      for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
    };
    await condition(T0, false, 0, '{"host":"never"}');
    await condition(T0, true, 7);
    await condition(T0 + 10 * S, true, 8);
    expect(await state.activeGroups('Engine')).toEqual(['{"host":"a"}']);
    await condition(T0 + 20 * S, false, 0);
    const events = await outbox(state);
    expect(events.map((e) => `${e.kind} ${e.from}→${e.alert.state}`)).toEqual(['pending inactive→pending', 'firing pending→firing', 'resolved firing→resolved']);
    expect(events[1]!.alert.value).toBe(8);
    expect(await state.activeGroups('Engine')).toEqual([]);
    // An evaluation of an earlier instant that finishes late (a slow engine, another replica) is not applied.
    await condition(T0 + 15 * S, true, 9);
    expect(await outbox(state)).toHaveLength(3);
    // `for` is judged by the next evaluation, not by a sweep in between on the last result.
    await condition(T0 + 30 * S, true, 9);
    expect(await sweepTimers(state, rules(), T0 + 40 * S)).toBe(0);
    expect((await outbox(state)).map((e) => e.kind)).toEqual(['pending', 'firing', 'resolved', 'pending']);
    await condition(T0 + 40 * S, true, 9);
    expect((await outbox(state)).at(-1)!.kind).toBe('firing');
  });

  it('judge a PromQL rule’s keep_firing_for at its evaluations: a series back at the one where it ends keeps firing', async () => {
    const state = commands();
    const meta = { rule: 'Kept', severity: 'warning', labels: '{"alertname":"Kept"}', channels: '["webhook"]', summaryTpl: '', messageTpl: '', renotifyMs: 600_000, forMs: 0, keepMs: 30_000, type: 'promql' };
    const condition = async (now: number, breach: boolean) => {
      const pipeline = redis.pipeline();
      state.conditionIn(pipeline, 'Kept', '{}', randomUUID(), now, meta, breach, breach ? 1 : 0);
      for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
    };
    await condition(T0, true);
    await condition(T0 + 15 * S, false);
    // keep_firing_for ends at T0 + 45 s: a sweep then (before or after that evaluation) ends nothing.
    expect(await sweepTimers(state, rules(), T0 + 45 * S)).toBe(0);
    await condition(T0 + 45 * S, true);
    expect((await outbox(state)).map((e) => e.kind)).toEqual(['firing']);
    // Clear at evaluations for keep_firing_for: resolved at the evaluation that finds it so.
    await condition(T0 + 60 * S, false);
    await condition(T0 + 75 * S, false);
    expect((await outbox(state)).map((e) => e.kind)).toEqual(['firing']);
    await condition(T0 + 90 * S, false);
    expect((await outbox(state)).map((e) => e.kind)).toEqual(['firing', 'resolved']);
  });

  it('end a threshold alert whose series stopped reporting, after staleAfter or its window if longer', async () => {
    const state = commands();
    const alerts = { ...ns.config.alerts, staleAfter: 300 };
    const warm = rules({ ...hot, name: 'Warm', severity: 'warning' }, { ...hot, name: 'WarmAvg', severity: 'warning', aggregation: 'avg', window: '10m' });
    await evaluateBatch([sample('cpu', 95, { host: 'a' }, T0)], warm, state, alerts, T0);
    await evaluateBatch([sample('cpu', 96, { host: 'a' }, T0 + 200 * S)], warm, state, alerts, T0 + 200 * S);
    await sweepTimers(state, warm, T0 + 499 * S);
    expect(await transitions(state)).toEqual(['firing inactive→firing', 'firing inactive→firing']);
    // Five minutes without a sample: the plain rule's alert ends; the 10-minute window's waits for its window.
    await sweepTimers(state, warm, T0 + 500 * S);
    expect((await outbox(state)).slice(2).map((e) => [e.kind, e.alert.rule])).toEqual([['resolved', 'Warm']]);
    await sweepTimers(state, warm, T0 + 800 * S);
    expect((await outbox(state)).slice(3).map((e) => [e.kind, e.alert.rule])).toEqual([['resolved', 'WarmAvg']]);
    expect(await redis.zcard(state.keys.active)).toBe(0);
    expect(await redis.zcard(state.keys.timers)).toBe(0);
  });

  it('judge silence at how far the intake has come: a stalled intake neither ends a firing alert nor fires a no-data rule, and looks again later', async () => {
    const state = commands();
    const alerts = { ...ns.config.alerts, staleAfter: 300 };
    const warm = rules({ ...hot, name: 'Warm', severity: 'warning' }, { name: 'Beat', type: 'nodata', metric: 'beat', groupBy: ['svc'], for: '60s', severity: 'warning', channels: ['webhook'] });
    await evaluateBatch([sample('cpu', 95, { host: 'a' }, T0), sample('beat', 1, { svc: 'x' }, T0)], warm, state, alerts, T0);
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
    // NATS away from T0 + 10 s: ten minutes later the intake has come no further, and nothing is judged silent.
    const stalledAt = T0 + 10 * S;
    await sweepTimers(state, warm, T0 + 600 * S, stalledAt);
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
    // Their timers were put off, not left due for every sweep ahead of every other timer.
    const next = await redis.zrange(state.keys.timers, 0, -1, 'WITHSCORES');
    for (let i = 1; i < next.length; i += 2) expect(Number(next[i])).toBeGreaterThan(T0 + 600 * S);
    // A replica just started has heard nothing yet (its intake clock 0): its look puts them off by seconds, not decades.
    await sweepTimers(state, warm, T0 + 601 * S, 0);
    expect(await transitions(state)).toEqual(['firing inactive→firing']);
    const later = await redis.zrange(state.keys.timers, 0, -1, 'WITHSCORES');
    for (let i = 1; i < later.length; i += 2) expect(Number(later[i])).toBeLessThanOrEqual(T0 + 606 * S);
    // The intake caught up with no sample of either: now they are silent.
    await sweepTimers(state, warm, T0 + 2000 * S, T0 + 2000 * S);
    expect((await outbox(state)).slice(1).map((e) => `${e.kind} ${e.alert.rule}`).sort()).toEqual(['firing Beat', 'resolved Warm']);
  });

  it('re-notify at once a firing alert whose silence or inhibition lifted, and look again later at one still suppressed', async () => {
    const state = commands();
    const warm = rules({ ...hot, name: 'Warm', severity: 'warning' });
    await evaluate(state, warm, T0, sample('cpu', 95, { host: 'a' }, T0), sample('cpu', 95, { host: 'b' }, T0));
    const suppressed = new SuppressedAlerts(redis, state.keys.suppressed, 30 * S);
    const [a, b] = ['a', 'b'].map((host) => state.keys.state('Warm', JSON.stringify({ host })));
    const [idA, idB] = (await outbox(state)).map((e) => e.alert.id);
    await suppressed.remember(a!, idA!, T0);
    await suppressed.remember(b!, idB!, T0);
    const silenced = new Set(['a', 'b']);
    const stillSuppressed = async () => (alert: Alert) => silenced.has(alert.labels.host!);
    const notifyNow = (key: string, now: number, id: string) => state.notifyNow(key, now, id);
    expect(await suppressed.recheck(stillSuppressed, notifyNow, T0 + 29 * S)).toBe(0);
    expect(await suppressed.recheck(stillSuppressed, notifyNow, T0 + 30 * S)).toBe(0);
    // The silence of host a is deleted: its alert is re-notified by the next sweep, not 30 minutes on.
    silenced.delete('a');
    expect(await suppressed.recheck(stillSuppressed, notifyNow, T0 + 60 * S)).toBe(1);
    await sweepTimers(state, warm, T0 + 60 * S);
    expect((await outbox(state)).map((e) => `${e.kind} ${e.alert.labels.host}`)).toEqual(['firing a', 'firing b', 'renotify a']);
    expect(Number(await redis.zscore(state.keys.suppressed, b!))).toBe(T0 + 90 * S);
    expect(await redis.zscore(state.keys.suppressed, a!)).toBeNull();
  });

  it('leave alone a new alert of a series whose suppressed alert ended: it was notified on its own', async () => {
    const state = commands();
    const warm = rules({ ...hot, name: 'Warm', severity: 'warning' });
    const key = state.keys.state('Warm', JSON.stringify({ host: 'a' }));
    await evaluate(state, warm, T0, sample('cpu', 95, { host: 'a' }, T0));
    const suppressed = new SuppressedAlerts(redis, state.keys.suppressed, 30 * S);
    await suppressed.remember(key, (await outbox(state))[0]!.alert.id, T0);
    // It ends, and a new alert of the same series fires (and is notified) before the recheck.
    await evaluate(state, warm, T0 + S, sample('cpu', 10, { host: 'a' }, T0 + S));
    await evaluate(state, warm, T0 + 2 * S, sample('cpu', 95, { host: 'a' }, T0 + 2 * S));
    expect(await suppressed.recheck(async () => () => false, (k, now, id) => state.notifyNow(k, now, id), T0 + 30 * S)).toBe(0);
    await sweepTimers(state, warm, T0 + 30 * S);
    expect((await outbox(state)).map((e) => e.kind)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('re-notify a lifted alert once when two replicas look at it at the same time', async () => {
    const state = commands();
    const warm = rules({ ...hot, name: 'Warm', severity: 'warning' });
    await evaluate(state, warm, T0, sample('cpu', 95, { host: 'a' }, T0));
    const [a] = ['a'].map((host) => state.keys.state('Warm', JSON.stringify({ host })));
    const replicaA = new SuppressedAlerts(redis, state.keys.suppressed, 30 * S);
    const replicaB = new SuppressedAlerts(redis, state.keys.suppressed, 30 * S);
    await replicaA.remember(a!, (await outbox(state))[0]!.alert.id, T0);
    const notifyNow = (key: string, now: number, id: string) => state.notifyNow(key, now, id);
    // B has read the alert due and reads the silences while A re-notifies it and a sweep sends the re-notification.
    let bRead!: () => void;
    const bHasRead = new Promise<void>((resolve) => (bRead = resolve));
    let aDone!: () => void;
    const aHasSent = new Promise<void>((resolve) => (aDone = resolve));
    const slowLook = async () => {
      bRead();
      await aHasSent;
      return () => false;
    };
    const b = replicaB.recheck(slowLook, notifyNow, T0 + 30 * S);
    await bHasRead;
    expect(await replicaA.recheck(async () => () => false, notifyNow, T0 + 30 * S)).toBe(1);
    await sweepTimers(state, warm, T0 + 30 * S);
    aDone();
    expect(await b).toBe(0);
    await sweepTimers(state, warm, T0 + 31 * S);
    expect((await outbox(state)).map((e) => `${e.kind} ${e.alert.labels.host}`)).toEqual(['firing a', 'renotify a']);
  });

  it('end an acknowledged alert, which has no timer, once its rule is gone from the rules', async () => {
    const state = commands();
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    const id = (await outbox(state))[0]!.alert.id;
    expect(await state.ack(id, 'oncall', undefined, T0 + S)).toBe('firing');
    expect(await endAlertsOfMissingRules(state, rules(hot), T0 + 2 * S)).toBe(0);
    expect(await endAlertsOfMissingRules(state, rules({ ...hot, name: 'Other' }), T0 + 2 * S)).toBe(1);
    expect(await transitions(state)).toEqual(['firing inactive→firing', 'acknowledged firing→firing', 'resolved firing→resolved']);
    expect(await redis.zcard(state.keys.active)).toBe(0);
  });

  it('end a pending alert at the first evaluation of its rule made a no-data one, which then watches the group', async () => {
    const state = commands();
    const slow = rules({ ...hot, name: 'Turned', for: '30s', groupBy: ['host'] });
    await evaluate(state, slow, T0, sample('cpu', 95, { host: 'a' }, T0));
    const pendingId = (await outbox(state))[0]!.alert.id;
    const watch = rules({ name: 'Turned', type: 'nodata', metric: 'cpu', groupBy: ['host'], for: '60s', severity: 'warning', channels: ['webhook'] });
    await evaluate(state, watch, T0 + 5 * S, sample('cpu', 95, { host: 'a' }, T0 + 5 * S));
    expect(await transitions(state)).toEqual(['pending inactive→pending', 'inactive pending→inactive']);
    expect(await redis.zcard(state.keys.active)).toBe(0);
    expect(await redis.hexists(state.keys.ids, pendingId)).toBe(0);
    // Its one timer is the watch's, a minute after the sample, not one already due.
    const [, due] = await redis.zrange(state.keys.timers, 0, -1, 'WITHSCORES');
    expect(Number(due)).toBe(T0 + 65 * S);
    await sweepTimers(state, watch, T0 + 65 * S);
    expect((await outbox(state)).slice(2).map((e) => `${e.kind} ${e.from}→${e.alert.state}`)).toEqual(['firing inactive→firing']);
  });

  it('end the alerts of a rule made another type (nothing evaluates their state again), at a new rule set and at their timer', async () => {
    const state = commands();
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'a' }, T0));
    await evaluate(state, rules(hot), T0, sample('cpu', 95, { host: 'b' }, T0));
    const asPromql = rules({ name: 'Hot', type: 'promql', expr: 'cpu > 90', severity: 'critical' });
    // Acknowledged, host a has no timer: the new rule set ends it.
    expect(await state.ack((await outbox(state))[0]!.alert.id, 'oncall', undefined, T0 + S)).toBe('firing');
    expect(await endAlertsOfMissingRules(state, asPromql, T0 + 2 * S)).toBe(2);
    expect((await transitions(state)).filter((t) => t.startsWith('resolved'))).toHaveLength(2);
    // Its re-notification timer ends one the rule set did not come to.
    await evaluate(state, rules(hot), T0 + 3 * S, sample('cpu', 95, { host: 'c' }, T0 + 3 * S));
    await sweepTimers(state, asPromql, T0 + 86_400 * S);
    expect(await redis.zcard(state.keys.active)).toBe(0);
  });
});

describe('two replicas running the state scripts on the same keys', () => {
  it('make one transition when both evaluate the same samples at once', async () => {
    const prefix = `${ns.config.redis.prefix}case${++cases}:`;
    const [a, b] = [commands(redis, prefix), commands(replica, prefix)];
    const set = rules({ name: 'Hot', metric: 'cpu', comparator: '>', threshold: 90, severity: 'critical', channels: ['webhook'] });
    const samples = Array.from({ length: 50 }, (_, i) => sample('cpu', 95, { host: `h${i}` }, T0));
    await Promise.all([evaluate(a, set, T0, ...samples), evaluate(b, set, T0, ...samples), evaluate(a, set, T0, ...samples.slice().reverse())]);
    const events = await outbox(a);
    expect(events.map((e) => e.kind)).toEqual(Array(50).fill('firing'));
    expect(new Set(events.map((e) => e.alert.labels.host)).size).toBe(50);
    expect(await redis.hlen(a.keys.ids)).toBe(50);
  });

  it('fire a due pending alert once when both sweep at once, and acknowledge it once', async () => {
    const prefix = `${ns.config.redis.prefix}case${++cases}:`;
    const [a, b] = [commands(redis, prefix), commands(replica, prefix)];
    const set = rules({ name: 'Slow', metric: 'cpu', comparator: '>', threshold: 90, for: '30s', severity: 'critical', channels: ['webhook'] });
    await evaluate(a, set, T0, ...Array.from({ length: 20 }, (_, i) => sample('cpu', 95, { host: `h${i}` }, T0)));
    await Promise.all([sweepTimers(a, set, T0 + 30 * S), sweepTimers(b, set, T0 + 30 * S)]);
    const fired = (await outbox(a)).filter((e) => e.kind === 'firing');
    expect(fired).toHaveLength(20);

    const id = fired[0]!.alert.id;
    const answers = await Promise.all([a.ack(id, 'one', undefined, T0 + 31 * S), b.ack(id, 'other', undefined, T0 + 31 * S)]);
    expect(answers.sort()).toEqual(['already', 'firing']);
    expect((await outbox(a)).filter((e) => e.kind === 'acknowledged')).toHaveLength(1);
  });
});
