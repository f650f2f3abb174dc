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

  constructor(readonly max: number) {}

  take(n: number): void {
    this.taken += n;
    if (this.taken > this.max) throw new BodyTooLargeError(`the request makes more than ${this.max} samples, the most one request may (ingest.maxSamplesPerRequest)`);
  }
}

/** Why a sample of a request was left out (counted, not refused: the rest of the request is good); docs/otlp.md explains OTLP's. */
export type DropReason = 'non_finite' | 'native_histogram' | 'no_timestamp' | 'unspecified_temporality' | 'invalid_name' | 'invalid_label' | 'invalid_timestamp';

/** The samples of a pushed request, and how many were left out and why. */
export interface DecodedSamples {
  samples: IngestSample[];
  dropped: Partial<Record<DropReason, number>>;
  /** The protocol's own points of which a sample was left out, where it counts them (OTLP's `rejected_data_points`). */
  rejectedPoints?: number;
}
