import type { IngestSample } from '@terminusa/bus';

/** What one probe produced: whether it succeeded, and its `probe_*` samples. */
export interface ProbeReport {
  success: boolean;
  samples: IngestSample[];
  error?: string;
}
