import { Redis } from 'ioredis';
import { Counter, Histogram } from 'prom-client';
import { PgAlertStore, RedisAlertReader } from '@terminusa/alerting';
import { CALLS, consumeBatches, samplesOf, SUBJECTS } from '@terminusa/bus';
import { openDatabase } from '@terminusa/database';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { prepareConsumer, runService } from '@terminusa/runtime';
import { AlertStateCommands } from './evaluate/alert-state-commands.ts';
import { evaluateBatch } from './evaluate/evaluate-batch.ts';
import { scheduleSweeps } from './evaluate/sweep-timers.ts';
import { evaluatePromqlRule } from './evaluate/promql-rules.ts';
import { scheduleRuleEvaluations } from './evaluate/rule-schedule.ts';
import { RuleSource } from './rules/rule-source.ts';
import { relayOutbox } from './outbox/relay-outbox.ts';
import { handleAlertEvent } from './outbox/handle-alert-event.ts';
import { notifyPipeline, type NotifyContext } from './notify/notify-stage.ts';
import { SilenceCache, silenceStage } from './notify/silence-stage.ts';
import { inhibitStage } from './notify/inhibit-stage.ts';
import { routeStage } from './notify/route-stage.ts';
import { DeliveryQueue } from './notify/delivery-queue.ts';
import { createChannels } from './notify/channels/index.ts';

await runService({
  name: 'alert-manager',
  description: 'evaluates alert rules against the metric stream and sends notifications',
  async start({ config, bus, logger, registry, health, instance, onStop }) {
    const pool = await openDatabase(config, 'alert-manager', { health, onStop });

    const redis = new Redis(config.redis.url, { maxRetriesPerRequest: null });
    onStop('redis', () => void redis.disconnect());
    health.add('redis', async () => void (await redis.ping()));

    const store = new PgAlertStore(pool);
    const rules = new RuleSource(store, bus, logger, config.alerts.rulesFile);
    await rules.start();
    onStop('rules', () => rules.stop());

    const state = new AlertStateCommands(redis, config.redis.prefix);
    const reader = new RedisAlertReader(redis, config.redis.prefix);
    const silences = new SilenceCache(store);

    const evaluated = new Counter({ name: 'tmon_alert_evaluations_total', help: 'Rule evaluations of rule and series or group pairs', registers: [registry] });
    const evalSeconds = new Histogram({ name: 'tmon_alert_evaluation_seconds', help: 'Time to evaluate one batch', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers: [registry] });
    const events = new Counter({ name: 'tmon_alert_events_total', help: 'Alert state changes relayed', labelNames: ['kind'], registers: [registry] });
    const stopped = new Counter({ name: 'tmon_alert_notifications_suppressed_total', help: 'Notifications not sent, by reason', labelNames: ['reason'], registers: [registry] });
    const delivered = new Counter({ name: 'tmon_alert_deliveries_total', help: 'Notification deliveries, by channel and outcome', labelNames: ['channel', 'outcome'], registers: [registry] });

    const channels = createChannels(config.alerts.channels, {
      registry,
      resetTimeoutMs: config.alerts.breakerResetSeconds * 1000,
      publishDashboard: async (n) => bus.publish(SUBJECTS.dashboardNotifications, [], n),
    });
    const record = async (ctx: NotifyContext, why: string, detail: object) => {
      stopped.inc({ reason: why });
      await store.addEvent({ id: `${ctx.event.alert.id}:${ctx.event.seq}:${why}`, alertId: ctx.event.alert.id, kind: why as 'silenced' | 'inhibited', at: Date.now(), detail: { ...detail } });
    };
    const deliveries = new DeliveryQueue(
      { url: config.redis.url, maxRetriesPerRequest: null },
      `${config.redis.prefix}bull`,
      redis,
      state.keys,
      { groupWaitMs: config.alerts.groupWait * 1000, groupBy: config.alerts.groupBy, attempts: config.alerts.deliveryAttempts, backoffMs: config.alerts.deliveryBackoffMs },
      channels,
      {
        async delivered(alert, n, channel) {
          delivered.inc({ channel, outcome: 'delivered' });
          await store.addEvent({ id: `${alert.id}:${n.id}:${channel}:notified`, alertId: alert.id, kind: 'notified', at: Date.now(), detail: { channel, notification: n.id, status: n.status, repeat: n.repeat, alerts: n.alerts.length } });
        },
        async failed(alert, n, channel, error) {
          delivered.inc({ channel, outcome: 'failed' });
          await store.addEvent({ id: `${alert.id}:${n.id}:${channel}:failed`, alertId: alert.id, kind: 'delivery-failed', at: Date.now(), detail: { channel, notification: n.id, error } });
        },
      },
      logger,
    );
    deliveries.start(config.core.workers, config.core.timeout * 1000);
    onStop('deliveries', () => deliveries.close());

    // The notification path, assembled in one place: silence → inhibit → route → group and deliver.
    const notify = notifyPipeline(
      silenceStage(silences, record),
      inhibitStage(reader, config.alerts.inhibitEqual, record),
      routeStage(new Set(channels.keys())),
      deliveries.stage((alert, chosen) => state.markNotified(alert.id, chosen)),
    );
    const relay = await relayOutbox(redis, state.keys.outbox, instance, handleAlertEvent(store, bus, notify, (e) => events.inc({ kind: e.kind })), logger, config.core.timeout * 1000);
    onStop('outbox relay', () => relay.stop());

    const sweeps = scheduleSweeps(state, () => rules.rules, config.alerts.sweepInterval * 1000, logger);
    onStop('timer sweeps', () => sweeps.stop());

    // PromQL alert and recording rules, evaluated through the engine on their interval by one replica each time.
    const engine = new VictoriaMetrics(config.storage.engine);
    health.add('engine', () => engine.health());
    const promqlEvaluations = new Counter({ name: 'tmon_alert_promql_evaluations_total', help: 'PromQL rule evaluations, by kind and outcome', labelNames: ['kind', 'outcome'], registers: [registry] });
    const promqlDeps = { engine, state, bus, levels: config.alerts.levels, samplesPerMessage: config.ingest.publishedMessageSamples };
    const promqlRules = scheduleRuleEvaluations({
      rules: () => rules.rules,
      redis,
      claimKey: (rule, at) => state.keys.evaluationClaim(rule, at),
      instance,
      evaluate: async (rule, at) => {
        await evaluatePromqlRule(rule, at, promqlDeps);
        promqlEvaluations.inc({ kind: rule.type, outcome: 'ok' });
      },
      onError: (rule, err) => {
        promqlEvaluations.inc({ kind: rule.type, outcome: 'failed' });
        logger.warn('PromQL rule evaluation failed; the next interval tries again', { rule: rule.name, err: (err as Error).message });
      },
      logger,
    });
    onStop('PromQL rules', () => promqlRules.stop());

    const configChanged = bus.subscribe(
      SUBJECTS.alertConfigChanged,
      (change) => (change.what === 'rules' ? void rules.reload() : silences.invalidate()),
      (err) => logger.warn('invalid config-changed message', { err: err.message }),
    );
    onStop('config subscription', () => configChanged.unsubscribe());

    const ack = bus.serve(
      CALLS.alertAck,
      async (req) => {
        const result = await state.ack(req.id, req.by, req.comment, Date.now());
        if (result === 'missing') return { error: `no active alert ${req.id}`, code: 'missing-alert' };
        if (result === 'already') return { error: `alert ${req.id} is already acknowledged`, code: 'already-acknowledged' };
        logger.info('alert acknowledged', { audit: true, alert: req.id, by: req.by });
        return { ok: true as const, state: result };
      },
      'alert-manager',
    );
    onStop('ack calls', () => ack.unsubscribe());

    // Intake last, so every stage it feeds is ready; it is stopped first.
    // Created or updated here in development; made by the NATS bootstrap where users have least privilege.
    await prepareConsumer({ config, bus, logger }, 'alert-manager');
    const consumer = await consumeBatches(
      bus,
      'alert-manager',
      async (messages) => {
        const end = evalSeconds.startTimer();
        const samples = messages.flatMap((m) => {
          if (!rules.rules.mayMatch(m.data)) return [];
          const decoded = bus.decode(SUBJECTS.samples, m.subject, m.data);
          return decoded.ok ? samplesOf(decoded.value) : [];
        });
        evaluated.inc(await evaluateBatch(samples, rules.rules, state, config.alerts.levels));
        end();
      },
      { maxBatch: config.core.batchSize, lingerMs: 2, retryDelayMs: 500, onError: (err) => logger.error('evaluation failed; batch will be redelivered', { err }) },
    );
    onStop('samples consumer', () => consumer.stop());
  },
});
