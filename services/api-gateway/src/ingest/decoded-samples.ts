import type { IngestSample } from '@terminusa/bus';

/** A pushed body no retry can fix (not snappy, not gzip, not the protocol's message): answered 400, which senders drop. */
export class BadPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadPayloadError';
  }
}

/** Why a sample of a request was left out (counted, not refused: the rest of the request is good); docs/otlp.md explains OTLP's. */
export type DropReason = 'non_finite' | 'native_histogram' | 'no_timestamp' | 'unspecified_temporality' | 'invalid_name';

/** The samples of a pushed request, and how many were left out and why. */
export interface DecodedSamples {
  samples: IngestSample[];
  dropped: Partial<Record<DropReason, number>>;
  /** The protocol's own points of which a sample was left out, where it counts them (OTLP's `rejected_data_points`). */
  rejectedPoints?: number;
}
