import { durationMs, type Config } from '@terminusa/config';

/** What the processor accepts in one message, from the `ingest` settings and the raw retention. */
export interface IngestLimits {
  maxMessageBytes: number;
  maxSamplesPerMessage: number;
  maxTags: number;
  maxTagValueLength: number;
  /** How far after the receipt time a timestamp may lie (clock skew). */
  maxFutureMs: number;
  /** How far before the receipt time a timestamp may lie: the raw retention, older points would be pruned at once. */
  maxAgeMs: number;
}

/** The limits of a configuration. */
export function ingestLimits(config: Pick<Config, 'ingest' | 'storage'>): IngestLimits {
  const { maxMessageBytes, maxSamplesPerMessage, maxTags, maxTagValueLength, maxFutureMs } = config.ingest;
  return { maxMessageBytes, maxSamplesPerMessage, maxTags, maxTagValueLength, maxFutureMs, maxAgeMs: durationMs(config.storage.retention.raw) };
}
