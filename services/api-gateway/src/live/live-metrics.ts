import { Counter, Gauge, type Registry } from 'prom-client';
import { DROP_REASONS, type DropReason } from './live-connection.ts';

/** Why the gateway answered a `/ws` upgrade with an HTTP error, the label of `tmon_gateway_ws_refused_total`. */
export const REFUSAL_REASONS = ['rate-limited', 'credential-in-url', 'full', 'over-cap', 'unauthenticated-cap', 'unavailable'] as const;
/** One reason an upgrade was refused. */
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** What the live stream reports about its clients. */
export interface LiveMetrics {
  dropped(reason: DropReason): void;
  refused(reason: RefusalReason): void;
}

/**
 * `tmon_gateway_ws_clients` (read from `clients` at scrape time), `tmon_gateway_ws_dropped_total{reason}` and
 * `tmon_gateway_ws_refused_total{reason}` on `registry`; without a registry nothing is recorded.
 */
export function liveMetrics(registry: Registry | undefined, clients: () => number): LiveMetrics {
  if (!registry) return { dropped: () => undefined, refused: () => undefined };
  new Gauge({
    name: 'tmon_gateway_ws_clients',
    help: 'Open connections of the live stream (GET /ws)',
    registers: [registry],
    collect() {
      this.set(clients());
    },
  });
  const dropped = new Counter({ name: 'tmon_gateway_ws_dropped_total', help: 'Live stream connections the gateway ended, by reason', labelNames: ['reason'], registers: [registry] });
  const refused = new Counter({ name: 'tmon_gateway_ws_refused_total', help: 'Live stream upgrades the gateway answered with an HTTP error, by reason', labelNames: ['reason'], registers: [registry] });
  // Every reason starts at 0, so a rate over a reason that never happened yet is 0 rather than absent.
  for (const reason of DROP_REASONS) dropped.inc({ reason }, 0);
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0);
  return { dropped: (reason) => dropped.inc({ reason }), refused: (reason) => refused.inc({ reason }) };
}
