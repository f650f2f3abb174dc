import { PgAlertStore, RedisAlertReader } from '@terminusa/alerting';
import { SUBJECTS } from '@terminusa/bus';
import { publishedMessageLimits } from '@terminusa/config';
import { openDatabase } from '@terminusa/database';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { openRedis, runService, startConsumer, startWhenCaughtUp } from '@terminusa/runtime';
import { createAlertManagerMetrics } from './alert-manager-metrics.ts';
import { serveAckCalls } from './evaluate/ack-calls.ts';
import { AlertStateCommands } from './evaluate/alert-state-commands.ts';
import { evaluateSampleBatches } from './evaluate/evaluate-samples.ts';
import { schedulePromqlRules } from './evaluate/rule-schedule.ts';
import { scheduleSweeps } from './evaluate/sweep-timers.ts';
import { createChannels } from './notify/channels/index.ts';
import { notificationHistory } from './notify/notification-history.ts';
import { startNotificationPipeline } from './notify/notification-pipeline.ts';
import { SilenceCache } from './notify/silence-stage.ts';
import { SuppressedAlerts } from './notify/suppressed-alerts.ts';
import { handleAlertEvents } from './outbox/handle-alert-events.ts';
import { relayOutbox } from './outbox/relay-outbox.ts';
import { followConfigChanges } from './rules/follow-config-changes.ts';
import { RuleSource } from './rules/rule-source.ts';

await runService({
  name: 'alert-manager',
  description: 'evaluates alert rules against the metric stream and sends notifications',
  async start(ctx) {
    const { config, bus, logger, registry, health, instance, onStop } = ctx;
    const pool = await openDatabase(config, 'alert-manager', ctx);
    // Blocking: the outbox relay's reader (a duplicate of this client) waits in XREADGROUP BLOCK through a reconnect.
    const redis = await openRedis(ctx, 'alert-manager', 'blocking');
    const metrics = createAlertManagerMetrics(registry);

    const store = new PgAlertStore(pool);
    const rules = new RuleSource(store, bus, logger, config.alerts.rulesFile);
    await rules.start();
    onStop('rules', () => rules.stop());

    const state = new AlertStateCommands(redis, config.redis.prefix);
    const silences = new SilenceCache(store);

    const channels = createChannels(config.alerts.channels, {
      registry,
      resetTimeoutMs: config.alerts.breakerResetSeconds * 1000,
      publishDashboard: async (n) => bus.publish(SUBJECTS.dashboardNotifications, [], n),
      ...(bus.nc.info ? { dashboardMaxMessageBytes: bus.nc.info.max_payload } : {}),
    });
    const history = notificationHistory(store, {
      suppressed: (reason) => metrics.suppressed.inc({ reason }),
      delivery: (channel, outcome) => metrics.deliveries.inc({ channel, outcome }),
    });
    const suppressed = new SuppressedAlerts(redis, state.keys.suppressed, config.alerts.suppressedRecheck * 1000);
    const notifications = startNotificationPipeline(config, {
      redis,
      keys: state.keys,
      silences,
      activeAlerts: new RedisAlertReader(redis, config.redis.prefix),
      notified: state,
      channels,
      history,
      suppressed,
      logger,
    });
    onStop('deliveries', () => notifications.close());

    const relay = await relayOutbox(
      redis,
      state.keys.outbox,
      instance,
      handleAlertEvents(store, bus, notifications.notify, (e) => metrics.events.inc({ kind: e.kind })),
      logger,
      config.core.timeout * 1000,
    );
    onStop('outbox relay', () => relay.stop());

    const engine = new VictoriaMetrics(config.storage.engine);
    health.add('engine', () => engine.health());
    const promqlRules = schedulePromqlRules(
      () => rules.rules,
      { engine, state, bus, levels: config.alerts.levels, messageLimits: publishedMessageLimits(config) },
      instance,
      (kind, outcome) => metrics.promqlEvaluations.inc({ kind, outcome }),
      logger,
    );
    onStop('PromQL rules', () => promqlRules.stop());

    const configChanged = followConfigChanges(bus, { rules, silences }, logger);
    onStop('config subscription', () => configChanged.unsubscribe());

    const ack = serveAckCalls(bus, state, logger);
    onStop('ack calls', () => ack.unsubscribe());

    // Intake last, so every stage it feeds is ready; it is stopped first.
    const intake = await startConsumer(
      ctx,
      'alert-manager',
      evaluateSampleBatches(bus, () => rules.rules, state, config.alerts, {
        evaluated: (n) => metrics.evaluations.inc(n),
        startTimer: () => metrics.evaluationSeconds.startTimer(),
      }),
      { maxBatch: config.core.batchSize, lingerMs: 2, retryDelayMs: 500, onError: (err) => logger.error('evaluation failed; batch will be redelivered', { err }) },
    );

    // Timers are swept once the intake has caught up with the samples that came while no replica ran: until then a
    // no-data rule's groups look silent, and a restart after an outage paged every one of them.
    startWhenCaughtUp(ctx, 'alert-manager', 'timer sweeps', config.core.batchSize, () => [
      scheduleSweeps(state, () => rules.rules, config.alerts.sweepInterval * 1000, () => intake.intakeClock(), logger),
      suppressed.schedule(notifications.suppression, (key, now, id) => state.notifyNow(key, now, id), config.alerts.sweepInterval * 1000, logger),
    ]);
  },
});
