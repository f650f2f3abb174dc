import type { MessageLimits } from '@terminusa/bus';
import type { Config } from './schema.ts';

/** The limits of the INGEST messages the suite publishes itself (pushed requests, recording rules), from `ingest`. */
export function publishedMessageLimits(config: Readonly<Config>): MessageLimits {
  return { samples: config.ingest.publishedMessageSamples, bytes: config.ingest.maxMessageBytes };
}
