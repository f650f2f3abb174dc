import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { SMTPServer } from 'smtp-server';
import { alertKeys } from '@terminusa/alerting';
import { alertPipelineIdle as idleAlertPipeline, freePort, startServiceProcess, STARTUP_MS, waitFor, type ServiceProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';

const ADMIN_PASSWORD = 'alerting-e2e-password-7';
const WEBHOOK_SECRET = 'webhook-secret-for-the-e2e-test';

interface Received {
  path: string;
  body: any;
  at: number;
}

let ns: TestNamespace;
let env: Record<string, string>;
let nc: NatsConnection;
let jsm: JetStreamManager;
let redis: Redis;
let base: string;
let token: string;
let rulesFile: string;
let receiver: Server;
let smtp: SMTPServer;
const received: Received[] = [];
const mails: string[] = [];
let failNext = 0;
const procs: ServiceProcess[] = [];


async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

/** Publishes samples the way a game service does. */
function publish(samples: { name: string; value: number; tags?: Record<string, string> }[]): void {
  nc.publish(`${ns.id}.metrics.ingest.e2e`, new TextEncoder().encode(JSON.stringify({ samples })));
}

/** Resolves when the alert-managers have nothing in hand; throws naming what they still have (see the testkit's). */
const alertPipelineIdle = () =>
  idleAlertPipeline(jsm, redis, { natsPrefix: ns.config.nats.prefix, redisPrefix: ns.config.redis.prefix, outbox: alertKeys(ns.config.redis.prefix).outbox });

/** Rule evaluations each alert-manager replica counted, by its ops port. */
async function evaluationsByReplica(): Promise<Map<number, number>> {
  const { body } = await api('/health/details');
  const counts = new Map<number, number>();
  for (const { opsPort } of body.services['alert-manager'].live as { opsPort: number }[]) {
    const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    counts.set(opsPort, Number(/^tmon_alert_evaluations_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? 0));
  }
  return counts;
}

/** Webhook notifications (parsed) that contain an alert of `rule`. */
const webhooksFor = (rule: string) => received.filter((r) => r.path === '/webhook' && r.body.notification.alerts.some((a: any) => a.rule === rule)).map((r) => r.body.notification);

const RULES = `rules:
  - { name: QueueDeep, metric: queue_depth, comparator: ">", threshold: 100, severity: critical, summary: "Queue deep on {{shard}}", message: "depth {{value}}" }
  - { name: SlowLatency, metric: latency_ms, comparator: ">", threshold: 500, for: 2s, severity: warning, channels: [webhook] }
  - { name: SlowCancel, metric: cancel_latency_ms, comparator: ">", threshold: 500, for: 15s, severity: warning, channels: [webhook] }
  - { name: Flappy, metric: flap_metric, comparator: ">", threshold: 10, keepFiringFor: 20s, severity: info, channels: [webhook] }
  - { name: HeartbeatLost, type: nodata, metric: heartbeat, groupBy: [svc], for: 2s, severity: warning, channels: [webhook] }
  - { name: ShardDown, metric: shard_up, comparator: "<", threshold: 1, severity: critical, channels: [webhook], labels: { team: game } }
  - { name: ShardSlow, metric: shard_slow, comparator: ">", threshold: 0, severity: warning, channels: [webhook] }
  - { name: Silenced, metric: silenced_metric, comparator: ">", threshold: 0, severity: critical, channels: [webhook] }
  - { name: Storm, metric: storm_metric, comparator: ">", threshold: 0, severity: warning, channels: [webhook] }
  - { name: Flaky, metric: flaky_metric, comparator: ">", threshold: 0, severity: warning, channels: [webhook] }
  - { name: Doomed, metric: doomed_metric, comparator: ">", threshold: 0, severity: warning, channels: [webhook] }
`;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  receiver = createHttpServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.url === '/webhook' && failNext > 0) {
      failNext--;
      res.writeHead(503).end();
      return;
    }
    received.push({ path: req.url ?? '', body: JSON.parse(body), at: Date.now() });
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hookPort = (receiver.address() as { port: number }).port;
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, _session, done) {
      let text = '';
      stream.on('data', (d: Buffer) => (text += d.toString()));
      stream.on('end', () => {
        mails.push(text);
        done();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const smtpPort = (smtp.server.address() as { port: number }).port;

  rulesFile = join(ns.env.DATA_DIR!, 'alert-rules.yaml');
  await writeFile(rulesFile, RULES);
  const port = await freePort();
  env = {
    ...ns.env,
    LOG_LEVEL: 'info',
    GATEWAY_PORT: String(port),
    GATEWAY_HOST: '127.0.0.1',
    OPS_PORT: '0',
    ADMIN_PASSWORD,
    ALERT_RULES_FILE: rulesFile,
    TMON_ALERTS__GROUP_WAIT: '1',
    TMON_ALERTS__INHIBIT_EQUAL: '["shard"]',
    TMON_ALERTS__DELIVERY_BACKOFF_MS: '200',
    TMON_ALERTS__DELIVERY_ATTEMPTS: '3',
    TMON_ALERTS__SWEEP_INTERVAL: '0.2',
    // Alerts whose notification an inhibition or a silence stopped are looked at again every second, not every 30 s.
    TMON_ALERTS__SUPPRESSED_RECHECK: '1',
    TMON_ALERTS__BREAKER_RESET_SECONDS: '1',
    // A killed replica's unacknowledged work is taken over after core.timeout; short here.
    TMON_CORE__TIMEOUT: '3',
    // Short re-notification intervals so the test sees them.
    TMON_ALERTS__LEVELS__CRITICAL: '{"timeout":2,"channels":["all"]}',
    TMON_ALERTS__CHANNELS__WEBHOOK: JSON.stringify({ url: `http://127.0.0.1:${hookPort}/webhook`, secret: WEBHOOK_SECRET }),
    TMON_ALERTS__CHANNELS__SLACK: JSON.stringify({ webhookUrl: `http://127.0.0.1:${hookPort}/slack/services/T0/B0/SECRET` }),
    TMON_ALERTS__CHANNELS__EMAIL: JSON.stringify({ host: '127.0.0.1', port: smtpPort, requireTls: false, to: ['oncall@terminusa.example'] }),
  };
  base = `http://127.0.0.1:${port}`;
  nc = await connect({ servers: ns.config.nats.url });
  jsm = await nc.jetstreamManager();
  redis = ns.redis();
  for (const name of ['processor', 'alert-manager', 'api-gateway']) procs.push(startServiceProcess(name, env));
  await waitFor(async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined), STARTUP_MS, 'the gateway up', 250);
  const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
  token = ((await login.json()) as { token: string }).token;
  await waitFor(async () => {
    const { body } = await api('/health/details');
    return body.services['alert-manager']!.instances === 1 && body.services.processor!.instances === 1 ? true : undefined;
  }, STARTUP_MS, 'alert-manager and processor up', 250);
  await waitFor(async () => ((await api('/rules')).body.rules.length === 11 ? true : undefined), 10_000, 'rules loaded');
}, STARTUP_MS + 30_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await nc?.close();
  receiver?.close();
  smtp?.close();
});

describe('alerting, end to end', () => {
  it('fires at once on a breach and notifies every channel of a critical alert', async () => {
    publish([{ name: 'queue_depth', value: 250, tags: { shard: 's1' } }]);
    const [hook] = await waitFor(() => (webhooksFor('QueueDeep').length ? webhooksFor('QueueDeep') : undefined), 10_000, 'webhook notification');
    expect(hook).toMatchObject({ status: 'firing', repeat: false, alerts: [{ rule: 'QueueDeep', state: 'firing', severity: 'critical', summary: 'Queue deep on s1', message: 'depth 250', labels: { alertname: 'QueueDeep', shard: 's1' } }] });
    await waitFor(() => (received.some((r) => r.path.startsWith('/slack') && JSON.stringify(r.body).includes('Queue deep on s1')) ? true : undefined), 10_000, 'slack message');
    await waitFor(() => (mails.some((m) => m.includes('Queue deep on s1')) ? true : undefined), 10_000, 'email');
    const { body } = await api('/alerts/active?severity=critical&label.shard=s1');
    expect(body.alerts).toHaveLength(1);
    expect(body.alerts[0]).toMatchObject({ rule: 'QueueDeep', state: 'firing', value: 250 });
  });

  it('records every transition and delivery in the history, and resolves to the channels that were told', async () => {
    const active = (await api('/alerts/active?label.shard=s1')).body.alerts[0];
    publish([{ name: 'queue_depth', value: 3, tags: { shard: 's1' } }]);
    const resolved = await waitFor(() => webhooksFor('QueueDeep').find((n) => n.status === 'resolved'), 10_000, 'resolved notification');
    expect(resolved.alerts[0]).toMatchObject({ id: active.id, state: 'resolved', resolvedAt: expect.any(Number) });
    expect((await api('/alerts/active?label.shard=s1')).body.alerts).toEqual([]);
    const history = await waitFor(async () => {
      const { body } = await api('/alerts/history?rule=QueueDeep');
      const a = body.alerts.find((x: any) => x.id === active.id);
      const sent = a?.events.filter((e: any) => e.kind === 'notified').map((e: any) => `${e.detail.status}:${e.detail.channel}`) ?? [];
      return ['firing', 'resolved'].every((st) => ['email', 'slack', 'webhook'].every((c) => sent.includes(`${st}:${c}`))) ? a : undefined;
    }, 10_000, 'history with deliveries');
    expect(history.state).toBe('resolved');
    const kinds = history.events.map((e: any) => e.kind);
    expect(kinds.filter((k: string) => k === 'firing')).toHaveLength(1);
    expect(kinds.filter((k: string) => k === 'resolved')).toHaveLength(1);
    const channels = history.events.filter((e: any) => e.kind === 'notified').map((e: any) => `${e.detail.status}:${e.detail.channel}`).sort();
    expect(channels).toEqual(expect.arrayContaining(['firing:email', 'firing:slack', 'firing:webhook', 'resolved:email', 'resolved:slack', 'resolved:webhook']));
  });

  it('keeps a rule with `for` pending, then fires when the time has passed without new samples', async () => {
    publish([{ name: 'latency_ms', value: 900, tags: { route: '/login' } }]);
    // The pending spell (2 s) is not watched through the API, which a loaded machine may answer after it ended: the
    // rule's first notification is the firing one, sent once `for` had passed since the alert began, and the history
    // shows it was pending before.
    const hook = await waitFor(() => received.find((r) => r.path === '/webhook' && r.body.notification.alerts.some((a: any) => a.rule === 'SlowLatency')), 30_000, 'firing after for');
    const fired = hook.body.notification;
    expect(fired).toMatchObject({ status: 'firing', repeat: false, alerts: [{ rule: 'SlowLatency', state: 'firing', labels: { route: '/login' } }] });
    const alert = fired.alerts[0];
    expect(alert.firedAt - alert.startsAt).toBeGreaterThanOrEqual(2000);
    expect(hook.at - alert.startsAt).toBeGreaterThanOrEqual(2000);
    const history = await waitFor(async () => {
      const { body } = await api('/alerts/history?rule=SlowLatency');
      const a = body.alerts.find((x: any) => x.id === alert.id);
      return a?.events.some((e: any) => e.kind === 'firing') ? a : undefined;
    }, 30_000, 'pending → firing recorded');
    const transitions = history.events.map((e: any) => e.kind).filter((k: string) => ['pending', 'firing', 'resolved', 'inactive'].includes(k));
    expect(transitions).toEqual(['pending', 'firing']);
    expect(history.startsAt).toBe(alert.startsAt);
  }, 60_000);

  it('groups 100 alerts of one rule into one notification', async () => {
    publish(Array.from({ length: 100 }, (_, i) => ({ name: 'storm_metric', value: 1, tags: { host: `h${i}` } })));
    await waitFor(() => (webhooksFor('Storm').reduce((n, x) => n + x.alerts.length, 0) >= 100 ? true : undefined), 15_000, '100 storm alerts notified');
    const storms = webhooksFor('Storm');
    expect(storms).toHaveLength(1);
    expect(storms[0].alerts).toHaveLength(100);
    expect(storms[0].groupLabels).toEqual({ alertname: 'Storm' });
  });

  it('inhibits a warning while a critical alert with the same shard fires, and notifies it once the critical resolves', async () => {
    publish([{ name: 'shard_up', value: 0, tags: { shard: 's9' } }]);
    await waitFor(() => webhooksFor('ShardDown')[0], 10_000, 'critical fired');
    publish([{ name: 'shard_slow', value: 5, tags: { shard: 's9' } }, { name: 'shard_slow', value: 5, tags: { shard: 's10' } }]);
    const slow = await waitFor(() => webhooksFor('ShardSlow')[0], 10_000, 'the uninhibited warning');
    expect(slow.alerts.map((a: any) => a.labels.shard)).toEqual(['s10']);
    const history = await waitFor(async () => {
      const { body } = await api('/alerts/history?rule=ShardSlow');
      const a = body.alerts.find((x: any) => x.labels.shard === 's9');
      return a?.events.some((e: any) => e.kind === 'inhibited') ? a : undefined;
    }, 10_000, 'inhibited recorded');
    expect(history.state).toBe('firing');
    await waitFor(alertPipelineIdle, 15_000, 'the alert pipeline idle');
    expect(webhooksFor('ShardSlow').flatMap((n) => n.alerts).map((a: any) => a.labels.shard)).toEqual(['s10']);
    // The critical resolves: the warning it held back, still firing, is notified now, not at its re-notification time (30 min).
    publish([{ name: 'shard_up', value: 1, tags: { shard: 's9' } }]);
    await waitFor(async () => ((await api('/alerts/active?label.shard=s9')).body.alerts.some((a: any) => a.rule === 'ShardDown') ? undefined : true), 10_000, 'ShardDown resolved');
    const released = await waitFor(() => webhooksFor('ShardSlow').find((n) => n.alerts.some((a: any) => a.labels.shard === 's9')), 10_000, 'the warning notified once no longer inhibited');
    expect(released.status).toBe('firing');
    expect(released.alerts.find((a: any) => a.labels.shard === 's9').state).toBe('firing');
    publish([{ name: 'shard_slow', value: 0, tags: { shard: 's9' } }, { name: 'shard_slow', value: 0, tags: { shard: 's10' } }]);
    await waitFor(async () => ((await api('/alerts/active')).body.alerts.some((a: any) => a.rule === 'ShardSlow') ? undefined : true), 10_000, 'the ShardSlow alerts resolved');
  });

  it('notifies no one for a silenced alert but still records it, and a silence expires', async () => {
    const silence = await api('/silences', { method: 'POST', body: JSON.stringify({ matchers: [{ tag: 'alertname', value: 'Silenced' }], duration: 3600, comment: 'maintenance' }) });
    expect(silence.status).toBe(201);
    publish([{ name: 'silenced_metric', value: 1, tags: { n: '1' } }]);
    const recorded = await waitFor(async () => {
      const { body } = await api('/alerts/history?rule=Silenced');
      return body.alerts[0]?.events.some((e: any) => e.kind === 'silenced') ? body.alerts[0] : undefined;
    }, 10_000, 'silenced recorded');
    expect(recorded.state).toBe('firing');
    expect(webhooksFor('Silenced')).toEqual([]);
    expect((await api(`/silences/${silence.body.silence.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api('/silences')).body.silences).toEqual([]);
    publish([{ name: 'silenced_metric', value: 1, tags: { n: '2' } }]);
    await waitFor(() => webhooksFor('Silenced')[0], 10_000, 'notified once the silence ended');
    // Resolved, so their re-notifications every 2 s (critical) do not keep the pipeline busy in later tests.
    publish([{ name: 'silenced_metric', value: 0, tags: { n: '1' } }, { name: 'silenced_metric', value: 0, tags: { n: '2' } }]);
    await waitFor(async () => ((await api('/alerts/active')).body.alerts.some((a: any) => a.rule === 'Silenced') ? undefined : true), 10_000, 'the Silenced alerts resolved');
  });

  it('re-notifies an unacknowledged critical alert at its interval and stops once it is acknowledged', async () => {
    publish([{ name: 'queue_depth', value: 500, tags: { shard: 'a' } }, { name: 'queue_depth', value: 500, tags: { shard: 'b' } }]);
    const active = await waitFor(async () => {
      const { body } = await api('/alerts/active?severity=critical');
      const two = body.alerts.filter((a: any) => a.rule === 'QueueDeep' && a.state === 'firing');
      return two.length === 2 ? two : undefined;
    }, 10_000, 'two firing');
    const acked = active.find((a: any) => a.labels.shard === 'a');
    const repeats = (shard: string) => webhooksFor('QueueDeep').filter((n) => n.repeat && n.alerts.some((a: any) => a.labels.shard === shard));
    const ack = await api(`/alerts/${acked.id}/ack`, { method: 'POST', body: JSON.stringify({ comment: 'on it' }) });
    expect(ack).toMatchObject({ status: 200, body: { ok: true } });
    // The ack is in Redis by now. A re-notification falls due every 2 s after the alert fired, so at most this many of
    // the acknowledged alert could have been emitted before the ack (none, unless the machine was slow to get here).
    const ackedAfterMs = Date.now() - acked.firedAt;
    const dueBeforeAck = Math.floor(ackedAfterMs / 2000);
    expect((await api(`/alerts/${acked.id}/ack`, { method: 'POST', body: '{}' })).status).toBe(422);
    // Two re-notification rounds of the unacknowledged alert beyond any that could have come before the ack: had the ack
    // not stopped them, the acknowledged one would have been re-notified in those rounds as well.
    const rounds = Math.max(dueBeforeAck, repeats('b').length) + 2;
    await waitFor(() => (repeats('b').length >= rounds ? true : undefined), 30_000, `${rounds} re-notifications of the unacknowledged alert`);
    expect(repeats('a').length, `re-notifications of the alert acknowledged ${ackedAfterMs} ms after it fired`).toBeLessThanOrEqual(dueBeforeAck);
    const { body } = await api('/alerts/active?label.shard=a');
    expect(body.alerts[0].ack).toMatchObject({ by: 'admin', comment: 'on it' });
    publish([{ name: 'queue_depth', value: 0, tags: { shard: 'a' } }, { name: 'queue_depth', value: 0, tags: { shard: 'b' } }]);
  }, 60_000);

  it('damps flapping with keep_firing_for', async () => {
    publish([{ name: 'flap_metric', value: 20, tags: { k: 'f' } }]);
    await waitFor(() => webhooksFor('Flappy')[0], 10_000, 'flappy fired');
    // Each flip is evaluated on its own: the next is published once the alert shows the value of the last.
    const flappy = async (value: number) => {
      const alerts = (await api('/alerts/active')).body.alerts.filter((a: any) => a.rule === 'Flappy');
      return alerts.length === 1 && alerts[0].value === value ? alerts : undefined;
    };
    for (const value of [1, 20, 1]) {
      publish([{ name: 'flap_metric', value, tags: { k: 'f' } }]);
      await waitFor(() => flappy(value), 40_000, `Flappy evaluated at ${value}`);
    }
    // The last flip ended the breach, yet the alert keeps firing for keep_firing_for (20 s, which no flip above takes).
    expect(await flappy(1)).toMatchObject([{ state: 'firing' }]);
    const resolved = await waitFor(() => webhooksFor('Flappy').find((n) => n.status === 'resolved'), 45_000, 'flappy resolved after keep_firing_for');
    expect(resolved.alerts[0].resolvedAt - resolved.alerts[0].firedAt).toBeGreaterThanOrEqual(20_000);
    expect(webhooksFor('Flappy').filter((n) => n.status === 'firing')).toHaveLength(1);
  }, 120_000);

  it('fires a no-data alert when a group goes quiet and resolves it when data returns', async () => {
    publish([{ name: 'heartbeat', value: 1, tags: { svc: 'matchmaker' } }]);
    const fired = await waitFor(() => webhooksFor('HeartbeatLost').find((n) => n.status === 'firing'), 30_000, 'no-data fired');
    expect(fired.alerts[0].labels).toMatchObject({ svc: 'matchmaker', alertname: 'HeartbeatLost' });
    publish([{ name: 'heartbeat', value: 1, tags: { svc: 'matchmaker' } }]);
    await waitFor(() => webhooksFor('HeartbeatLost').find((n) => n.status === 'resolved'), 30_000, 'no-data resolved');
  });

  it('retries a failing receiver with backoff and delivers once', async () => {
    failNext = 2;
    publish([{ name: 'flaky_metric', value: 1, tags: { k: 'x' } }]);
    const hooks = await waitFor(() => (webhooksFor('Flaky').length ? webhooksFor('Flaky') : undefined), 15_000, 'delivered after retries');
    expect(failNext).toBe(0);
    // No retry is left to run: the delivery queue is empty.
    await waitFor(alertPipelineIdle, 15_000, 'the alert pipeline idle');
    expect(webhooksFor('Flaky')).toHaveLength(hooks.length);
    expect(hooks).toHaveLength(1);
  });

  it('records a delivery that finally fails in the alert history', async () => {
    failNext = 1000;
    try {
      publish([{ name: 'doomed_metric', value: 1 }]);
      const failed = await waitFor(async () => {
        const { body } = await api('/alerts/history?rule=Doomed');
        return body.alerts[0]?.events.find((e: any) => e.kind === 'delivery-failed');
      }, 15_000, 'delivery-failed recorded');
      expect(failed.detail).toMatchObject({ channel: 'webhook', error: expect.stringContaining('503') });
      expect(JSON.stringify(failed)).not.toContain(WEBHOOK_SECRET);
    } finally {
      failNext = 0;
    }
    // The failures opened the webhook's circuit breaker: a notification now waits for it instead of failing.
    publish([{ name: 'doomed_metric', value: 1, tags: { after: 'breaker' } }]);
    const later = await waitFor(() => webhooksFor('Doomed').flatMap((n) => n.alerts).find((a: any) => a.labels.after === 'breaker'), 15_000, 'delivered once the breaker closed');
    const { body } = await api('/alerts/history?rule=Doomed');
    expect(body.alerts.find((a: any) => a.id === later.id).events.map((e: any) => e.kind)).not.toContain('delivery-failed');
  });

  it('cancels a pending alert whose condition clears before `for` has passed, notifying no one', async () => {
    // SlowCancel's `for` (15 s) leaves the clearing sample ample time to travel the pipeline and be evaluated.
    publish([{ name: 'cancel_latency_ms', value: 900, tags: { route: '/cancel' } }]);
    const pending = await waitFor(async () => (await api('/alerts/active?state=pending&label.route=/cancel')).body.alerts[0], 30_000, 'pending');
    publish([{ name: 'cancel_latency_ms', value: 100, tags: { route: '/cancel' } }]);
    const history = await waitFor(async () => {
      const { body } = await api('/alerts/history?rule=SlowCancel');
      const a = body.alerts.find((x: any) => x.id === pending.id);
      return a?.events.some((e: any) => e.kind === 'inactive') ? a : undefined;
    }, 30_000, 'pending → inactive recorded');
    expect(history.events.map((e: any) => e.kind)).toEqual(['pending', 'inactive']);
    // A sentinel pending after the cancelled one: it fires after its `for`, later than the cancelled one would have.
    publish([{ name: 'cancel_latency_ms', value: 900, tags: { route: '/sentinel' } }]);
    await waitFor(() => webhooksFor('SlowCancel').flatMap((n) => n.alerts).find((a: any) => a.labels.route === '/sentinel'), 45_000, 'the sentinel fired');
    expect(webhooksFor('SlowCancel').flatMap((n) => n.alerts).filter((a: any) => a.labels.route === '/cancel')).toEqual([]);
    publish([{ name: 'cancel_latency_ms', value: 100, tags: { route: '/sentinel' } }]);
  }, 120_000);

  it('refuses a bad rules file and keeps the rules in force; takes a good one without restart', async () => {
    await writeFile(rulesFile, `${RULES}  - { name: Broken, metric: "bad metric", comparator: "~", severity: loud }\n`);
    const am = procs.find((p) => p.name === 'alert-manager')!;
    await waitFor(() => (am.output().includes('rules file refused') ? true : undefined), 10_000, 'refusal logged');
    expect(am.output()).toMatch(/rule Broken|"rule":"Broken"/);
    expect((await api('/rules')).body.rules).toHaveLength(11);
    await writeFile(rulesFile, `${RULES}  - { name: Added, metric: added_metric, comparator: ">", threshold: 0, severity: info, channels: [webhook] }\n`);
    await waitFor(async () => ((await api('/rules')).body.rules.length === 12 ? true : undefined), 10_000, 'new rule loaded');
    publish([{ name: 'added_metric', value: 1 }]);
    await waitFor(() => webhooksFor('Added')[0], 10_000, 'new rule fires');
  });

  it('manages rules through the API, refusing to overwrite file rules', async () => {
    const created = await api('/rules', { method: 'POST', body: JSON.stringify({ name: 'ApiRule', metric: 'api_metric', comparator: '>', threshold: 5, severity: 'warning', channels: ['webhook'] }) });
    expect(created.status).toBe(201);
    const bad = await api('/rules', { method: 'POST', body: JSON.stringify({ name: 'Bad', metric: 'x', comparator: '>', threshold: 'high', severity: 'warning' }) });
    expect(bad.status).toBe(400);
    expect(bad.body.fields[0].field).toBe('threshold');
    expect((await api('/rules/QueueDeep', { method: 'PUT', body: JSON.stringify({ metric: 'x', comparator: '>', threshold: 1, severity: 'info' }) })).status).toBe(409);
    // The alert-manager loads the rule when told it changed; a sample that comes before is not matched, so it is sent
    // again until the rule fires.
    await waitFor(() => {
      if (webhooksFor('ApiRule')[0]) return true;
      publish([{ name: 'api_metric', value: 10 }]);
      return undefined;
    }, 10_000, 'API rule fires', 250);
    expect((await api('/rules/ApiRule', { method: 'DELETE' })).status).toBe(204);
    expect((await api('/rules/ApiRule', { method: 'DELETE' })).status).toBe(404);
  });

  it('loses and doubles nothing when one of two alert-manager replicas is killed mid-flight', async () => {
    const first = procs.find((p) => p.name === 'alert-manager')!;
    const second = startServiceProcess('alert-manager', env);
    procs.push(second);
    // Each replica by the ops port its counters are read on (its instance name holds its process id).
    const replicas = await waitFor(async () => {
      const live = (await api('/health/details')).body.services['alert-manager'].live as { instance: string; opsPort: number }[];
      const found = new Map([first, second].map((p) => [live.find((i) => i.instance.includes(`-${p.child.pid}-`))?.opsPort, p] as const));
      return found.size === 2 && !found.has(undefined) ? (found as Map<number, ServiceProcess>) : undefined;
    }, 30_000, 'two alert-manager replicas', 250);
    const known = await evaluationsByReplica();
    await api('/rules', { method: 'POST', body: JSON.stringify({ name: 'Crash', metric: 'crash_metric', comparator: '>', threshold: 0, severity: 'warning', channels: ['webhook'] }) });
    // A replica without the rule yet would drop crash samples unevaluated: probes below the threshold are sent until
    // both replicas have evaluated one.
    await waitFor(async () => {
      publish([{ name: 'crash_metric', value: 0, tags: { n: 'probe' } }]);
      const counts = await evaluationsByReplica();
      return counts.size === 2 && [...counts].every(([port, n]) => n > (known.get(port) ?? 0)) ? true : undefined;
    }, 20_000, 'both replicas evaluating the Crash rule', 100);
    // Every probe evaluated, so the counts below rise only with the crash samples.
    await waitFor(alertPipelineIdle, 15_000, 'the alert pipeline idle');
    const before = await evaluationsByReplica();
    for (let i = 0; i < 50; i++) publish([{ name: 'crash_metric', value: 1, tags: { n: String(i) } }]);
    // The replica that took crash samples is killed as soon as it has evaluated some: it dies with their state
    // changes, relaying and notifications in hand.
    const victim = await waitFor(async () => {
      for (const [port, n] of await evaluationsByReplica()) if (n > before.get(port)!) return replicas.get(port)!;
      return undefined;
    }, 10_000, 'a replica evaluating crash samples', 5);
    victim.kill('SIGKILL');
    await victim.exited;
    const ids = await waitFor(() => {
      const alerts = webhooksFor('Crash').flatMap((n) => n.alerts.filter((a: any) => a.rule === 'Crash'));
      return alerts.length >= 50 ? alerts.map((a: any) => a.labels.n) : undefined;
    }, 40_000, 'all 50 alerts notified');
    // What the killed replica held comes back after core.timeout (3 s); once nothing is pending anywhere, every
    // delivery there will be has been made.
    await waitFor(alertPipelineIdle, 30_000, 'the alert pipeline idle');
    const final = webhooksFor('Crash').flatMap((n) => n.alerts.filter((a: any) => a.rule === 'Crash')).map((a: any) => a.labels.n);
    // Any alert delivered twice, named with the notifications that carried it.
    const doubled = [...new Set(final.filter((n: string, i: number) => final.indexOf(n) !== i))].map((n) => `${n} in ${webhooksFor('Crash').filter((x) => x.alerts.some((a: any) => a.labels.n === n)).map((x) => x.id).join(' and ')}`);
    expect(final.sort(), `delivered twice: ${doubled.join('; ')}`).toEqual(Array.from({ length: 50 }, (_, i) => String(i)).sort());
    expect(ids.length).toBe(50);
  }, 90_000);
});
