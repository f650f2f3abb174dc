import { Counter, Gauge, type Registry } from 'prom-client';
import { DROP_REASONS, type DropReason } from './live-connection.ts';

/** What the live stream reports about its clients. */
export interface LiveMetrics {
  dropped(reason: DropReason): void;
}

/**
 * `tmon_gateway_ws_clients` (read from `clients` at scrape time) and `tmon_gateway_ws_dropped_total{reason}` on
 * `registry`; without a registry nothing is recorded.
 */
export function liveMetrics(registry: Registry | undefined, clients: () => number): LiveMetrics {
  if (!registry) return { dropped: () => undefined };
  new Gauge({
    name: 'tmon_gateway_ws_clients',
    help: 'Open connections of the live stream (GET /ws)',
    registers: [registry],
    collect() {
      this.set(clients());
    },
  });
  const dropped = new Counter({ name: 'tmon_gateway_ws_dropped_total', help: 'Live stream connections the gateway ended, by reason', labelNames: ['reason'], registers: [registry] });
  // Every reason starts at 0, so a rate over a reason that never happened yet is 0 rather than absent.
  for (const reason of DROP_REASONS) dropped.inc({ reason }, 0);
  return { dropped: (reason) => dropped.inc({ reason }) };
}
