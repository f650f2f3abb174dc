/** Prometheus' own counters of its scrapes and remote writes, as the remote_write benches and tests read them. */

export const SENT = 'prometheus_remote_storage_samples_total';
export const FAILED = 'prometheus_remote_storage_samples_failed_total';
export const RETRIED = 'prometheus_remote_storage_samples_retried_total';
export const DROPPED = 'prometheus_remote_storage_samples_dropped_total';
export const PENDING = 'prometheus_remote_storage_samples_pending';
export const APPENDED = 'prometheus_tsdb_head_samples_appended_total';

/** A Prometheus value as its text formats print it, `+Inf` and `NaN` included. */
export function parseValue(v: string): number {
  if (v === '+Inf' || v === 'Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(v);
}

/** Prometheus' /metrics, summed over label sets, by metric name. */
export async function selfMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(\S+)/.exec(line);
    if (m) sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + parseValue(m[2]!));
  }
  return sums;
}
