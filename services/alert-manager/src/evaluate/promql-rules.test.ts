import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import { RuleSchema, type PromqlRule } from '@terminusa/alerting';
import { Bus, ensureStreams } from '@terminusa/bus';
import { publishedMessageLimits } from '@terminusa/config';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { ingestBodySamples, QUICK_SYNC, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { AlertStateCommands } from './alert-state-commands.ts';
import { evaluateAlertRule, evaluateRecordingRule, type PromqlRuleDeps } from './promql-rules.ts';

let ns: TestNamespace;
let redis: Redis;
let nc: NatsConnection;
let deps: PromqlRuleDeps;
const T0 = Date.UTC(2026, 11, 1, 12);

useTestNamespace((opened) => (ns = opened), QUICK_SYNC);
beforeAll(async () => {
  redis = ns.redis();
  nc = await connect({ servers: ns.config.nats.url });
  const bus = new Bus(nc, ns.config.nats.prefix);
  await ensureStreams(await nc.jetstreamManager(), bus.ns);
  deps = { engine: new VictoriaMetrics(ns.config.storage.engine), state: new AlertStateCommands(redis, ns.config.redis.prefix), bus, levels: ns.config.alerts.levels, messageLimits: publishedMessageLimits(ns.config) };
});
afterAll(async () => {
  await nc?.close();
});

/** Writes `cpu{host}` samples into the engine, durably. */
async function cpu(at: number, values: Record<string, number>): Promise<void> {
  await deps.engine.import(Object.entries(values).map(([host, v]) => JSON.stringify({ metric: { __name__: 'cpu', host }, values: [v], timestamps: [at] })).join('\n'));
  await deps.engine.sync();
}

/** The outbox's events (kind and labels) since `from` (a stream id). */
async function events(): Promise<{ kind: string; labels: Record<string, string>; value: string }[]> {
  const entries = await redis.xrange(deps.state.keys.outbox, '-', '+');
  return entries.map(([, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    return { kind: f.kind!, labels: JSON.parse(f.labels!) as Record<string, string>, value: f.value! };
  });
}

const rule = <T extends PromqlRule['type']>(input: Record<string, unknown>) => RuleSchema.parse(input) as Extract<PromqlRule, { type: T }>;

describe('PromQL alert rules', () => {
  it('raise an alert per returned series, pending for `for`, firing, then resolved once the series is no longer returned', async () => {
    const hot = rule<'promql'>({ name: 'HotCpu', type: 'promql', expr: 'cpu > 90', for: '30s', severity: 'critical', labels: { team: 'game' }, summary: '{{ $labels.host }} at {{ $value }}' });
    await cpu(T0, { a: 95, b: 10 });
    expect(await evaluateAlertRule(hot, T0, deps)).toBe(1);
    await cpu(T0 + 15_000, { a: 96, b: 10 });
    await evaluateAlertRule(hot, T0 + 15_000, deps);
    await cpu(T0 + 30_000, { a: 97, b: 10 });
    await evaluateAlertRule(hot, T0 + 30_000, deps);
    await cpu(T0 + 45_000, { a: 20, b: 10 });
    expect(await evaluateAlertRule(hot, T0 + 45_000, deps)).toBe(0);

    const seen = await events();
    expect(seen.map((e) => e.kind)).toEqual(['pending', 'firing', 'resolved']);
    expect(seen[1]!.labels).toEqual({ host: 'a', team: 'game', alertname: 'HotCpu' });
    expect(seen[1]!.value).toBe('97');
    expect(await deps.state.activeGroups('HotCpu')).toEqual([]);
  });

  it('records an expression as samples of the record name, published once per instant', async () => {
    const record = rule<'record'>({ name: 'cpu:total', type: 'record', record: 'cpu:total', expr: 'sum(cpu)', labels: { scope: 'fleet' } });
    const jsm = await nc.jetstreamManager();
    const before = (await jsm.streams.info(`${ns.id}_INGEST`)).state.messages;
    expect(await evaluateRecordingRule(record, T0 + 30_000, deps)).toBe(1);
    // An evaluation repeated after a crash is the same message: JetStream keeps one.
    await evaluateRecordingRule(record, T0 + 30_000, deps);
    expect((await jsm.streams.info(`${ns.id}_INGEST`)).state.messages).toBe(before + 1);
    const msg = await jsm.streams.getMessage(`${ns.id}_INGEST`, { last_by_subj: `${ns.id}.metrics.ingest.rules` });
    expect(ingestBodySamples(msg.data)).toEqual([{ name: 'cpu:total', value: 107, ts: T0 + 30_000, tags: { scope: 'fleet' } }]);
  });

  it('marks a series stale when the expression stops returning it, as Prometheus does', async () => {
    const hot = rule<'record'>({ name: 'cpu:hot', type: 'record', record: 'cpu:hot', expr: 'cpu_load > 50' });
    const load = async (at: number, values: Record<string, number>) => {
      await deps.engine.import(Object.entries(values).map(([host, v]) => JSON.stringify({ metric: { __name__: 'cpu_load', host }, values: [v], timestamps: [at] })).join('\n'));
      await deps.engine.sync();
    };
    const published = async () => ingestBodySamples((await (await nc.jetstreamManager()).streams.getMessage(`${ns.id}_INGEST`, { last_by_subj: `${ns.id}.metrics.ingest.rules` })).data);
    const T1 = T0 + 600_000;
    await load(T1, { a: 90, b: 80 });
    expect(await evaluateRecordingRule(hot, T1, deps)).toBe(2);
    await load(T1 + 15_000, { a: 95, b: 10 });
    expect(await evaluateRecordingRule(hot, T1 + 15_000, deps)).toBe(2);
    expect(await published()).toEqual([
      { name: 'cpu:hot', value: 95, ts: T1 + 15_000, tags: { host: 'a' } },
      { name: 'cpu:hot', stale: true, ts: T1 + 15_000, tags: { host: 'b' } },
    ]);
    // Marked once: the next evaluation writes only what the expression returns.
    await load(T1 + 30_000, { a: 91, b: 11 });
    expect(await evaluateRecordingRule(hot, T1 + 30_000, deps)).toBe(1);
    expect(await published()).toEqual([{ name: 'cpu:hot', value: 91, ts: T1 + 30_000, tags: { host: 'a' } }]);
  });
});
