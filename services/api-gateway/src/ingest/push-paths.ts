/** Where Prometheus remote_write 1.0 senders push: they must retry a 5xx, and may drop a 429. */
export const REMOTE_WRITE_PATH = '/api/v1/write';

/** Where OTLP/HTTP metric exporters push. */
export const OTLP_METRICS_PATH = '/v1/metrics';
