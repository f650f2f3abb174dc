import type { IngestSample } from '@terminusa/bus';

/** A pushed body no retry can fix (not snappy, not gzip, not the protocol's message): answered 400, which senders drop. */
export class BadPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadPayloadError';
  }
}

/** A body that is, or decompresses to, more than the gateway takes: answered 413, which senders drop. */
export class BodyTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * The samples one pushed request may make (`ingest.maxSamplesPerRequest`), counted as it is read: a small body can
 * make millions (a 2-byte remote-write sample, an OTLP exponential histogram's 1-byte buckets, each a `_bucket`
 * series), and held at once they would exhaust the gateway's memory. Past it, BodyTooLargeError.
 */
export class SampleBudget {
  private taken = 0;
  private tagBytesTaken = 0;

  constructor(readonly max: number) {}

  take(n: number): void {
    this.taken += n;
    if (this.taken > this.max) throw new BodyTooLargeError(`the request makes more than ${this.max} samples, the most one request may (ingest.maxSamplesPerRequest)`);
  }

  /**
   * Counts the tags of `n` samples that share `tags`, as the pipeline's messages write them (their JSON, once per
   * sample), before the samples are made; past {@link TAG_BYTES_PER_SAMPLE} × max bytes, BodyTooLargeError.
   */
  takeTags(n: number, tags: Readonly<Record<string, string>>): void {
    if (n <= 0) return;
    this.tagBytesTaken += n * Buffer.byteLength(JSON.stringify(tags));
    const most = TAG_BYTES_PER_SAMPLE * this.max;
    if (this.tagBytesTaken > most) {
      throw new BodyTooLargeError(`the request's samples carry more than ${most} bytes of tags written out once per sample, the most one request may (${TAG_BYTES_PER_SAMPLE} bytes × ingest.maxSamplesPerRequest)`);
    }
  }

  /** The bytes of tags the request's samples carry written out, as counted so far. */
  get tagBytes(): number {
    return this.tagBytesTaken;
  }
}

/**
 * Bytes of tags (their JSON, as the pipeline's messages carry them once per sample) a pushed request may make for each
 * sample it may make: a series' labels are sent once and written out once per sample (an OTLP histogram point's
 * attributes once per bucket), so one remote-write series of a 60 KB label and 499,000 samples, 2 MB sent, made
 * 30 GB of messages. Prometheus' series carry 100–300 bytes of labels, and its requests 500–2,000 samples.
 */
export const TAG_BYTES_PER_SAMPLE = 256;

/** Why a sample of a request was left out (counted, not refused: the rest of the request is good); docs/otlp.md explains OTLP's. */
export type DropReason = 'non_finite' | 'native_histogram' | 'no_timestamp' | 'unspecified_temporality' | 'invalid_name' | 'invalid_label' | 'invalid_timestamp';

/** The samples of a pushed request, and how many were left out and why. */
export interface DecodedSamples {
  samples: IngestSample[];
  dropped: Partial<Record<DropReason, number>>;
  /** The protocol's own points of which a sample was left out, where it counts them (OTLP's `rejected_data_points`). */
  rejectedPoints?: number;
}
