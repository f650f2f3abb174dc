import { Counter, type Registry } from 'prom-client';
import type { DropReason } from './decoded-samples.ts';

/** What the gateway's push endpoints report. */
export interface IngestMetrics {
  accepted(protocol: string, samples: number): void;
  dropped(protocol: string, reason: DropReason, samples: number): void;
  refused(protocol: string, status: number): void;
}

/**
 * `tmon_gateway_pushed_samples_total{protocol}`, `tmon_gateway_push_dropped_samples_total{protocol,reason}` and
 * `tmon_gateway_push_refused_total{protocol,status}` on `registry`; without a registry nothing is recorded.
 */
export function ingestMetrics(registry: Registry | undefined): IngestMetrics {
  if (!registry) return { accepted: () => undefined, dropped: () => undefined, refused: () => undefined };
  const accepted = new Counter({ name: 'tmon_gateway_pushed_samples_total', help: 'Samples taken from remote_write and OTLP requests, by protocol', labelNames: ['protocol'], registers: [registry] });
  const dropped = new Counter({ name: 'tmon_gateway_push_dropped_samples_total', help: 'Samples of pushed requests left out (see DropReason: NaN and infinities, native histograms, OTLP points without a time), by protocol and reason', labelNames: ['protocol', 'reason'], registers: [registry] });
  const refused = new Counter({ name: 'tmon_gateway_push_refused_total', help: 'Pushed requests refused, by protocol and HTTP status', labelNames: ['protocol', 'status'], registers: [registry] });
  return {
    accepted: (protocol, n) => accepted.inc({ protocol }, n),
    dropped: (protocol, reason, n) => dropped.inc({ protocol, reason }, n),
    refused: (protocol, status) => refused.inc({ protocol, status: String(status) }),
  };
}
