import { createHash } from 'node:crypto';
import { persistSamples, SampleTooLargeError, type Bus, type IngestSample, type MessageLimits } from '@terminusa/bus';
import { BadPayloadError } from './decoded-samples.ts';

/** The pipeline did not take a request's samples (JetStream unreachable, slow or full): the sender should retry. */
export class PipelineBusyError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'PipelineBusyError';
  }
}

/** How long to tell a sender to wait before it retries a request the pipeline did not take. */
const RETRY_AFTER_S = 1;

/**
 * Puts the samples of a pushed request (remote_write, OTLP) into the pipeline every sample goes through: INGEST
 * messages for the processor (validation, the cardinality guard, dead letters, then storage and alerting), as a
 * game service publishes them. A request is taken once its every message is stored by JetStream, so a sender told
 * "accepted" has lost nothing. Each message's id is derived from the request's bytes, so a retried request within
 * JetStream's duplicate window is stored once, and after it the engine keeps one sample per series and time.
 */
export class SamplePublisher {
  constructor(
    private readonly bus: Bus,
    private readonly limits: MessageLimits,
  ) {}

  /** The id a request's messages share: the protocol, the source and a digest of the request's bytes. */
  static requestId(protocol: string, source: string, body: Uint8Array): string {
    return `${protocol}:${source}:${createHash('sha256').update(body).digest('base64url').slice(0, 32)}`;
  }

  async publish(source: string, samples: readonly IngestSample[], requestId: string): Promise<void> {
    try {
      await persistSamples(this.bus, source, samples, this.limits, requestId);
    } catch (err) {
      // No retry makes such a sample fit: the sender is told the request is bad, and nothing of it was published.
      if (err instanceof SampleTooLargeError) throw new BadPayloadError(err.message);
      throw new PipelineBusyError(`the pipeline did not take the samples: ${(err as Error).message}`, RETRY_AFTER_S);
    }
  }
}
