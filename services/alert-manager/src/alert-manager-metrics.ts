import { Counter, Histogram, type Registry } from 'prom-client';

/** The alert-manager's own metrics, on the service registry. */
export interface AlertManagerMetrics {
  evaluations: Counter;
  evaluationSeconds: Histogram;
  events: Counter<'kind'>;
  suppressed: Counter<'reason'>;
  deliveries: Counter<'channel' | 'outcome'>;
  promqlEvaluations: Counter<'kind' | 'outcome'>;
}

/** Registers the alert-manager's counters and histogram on `registry`. */
export function createAlertManagerMetrics(registry: Registry): AlertManagerMetrics {
  const registers = [registry];
  return {
    evaluations: new Counter({ name: 'tmon_alert_evaluations_total', help: 'Rule evaluations of rule and series or group pairs', registers }),
    evaluationSeconds: new Histogram({ name: 'tmon_alert_evaluation_seconds', help: 'Time to evaluate one batch', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers }),
    events: new Counter({ name: 'tmon_alert_events_total', help: 'Alert state changes relayed', labelNames: ['kind'], registers }),
    suppressed: new Counter({ name: 'tmon_alert_notifications_suppressed_total', help: 'Notifications not sent, by reason', labelNames: ['reason'], registers }),
    deliveries: new Counter({ name: 'tmon_alert_deliveries_total', help: 'Notification deliveries, by channel and outcome', labelNames: ['channel', 'outcome'], registers }),
    promqlEvaluations: new Counter({ name: 'tmon_alert_promql_evaluations_total', help: 'PromQL rule evaluations, by kind and outcome', labelNames: ['kind', 'outcome'], registers }),
  };
}
