import { afterAll, beforeAll } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { ingestBodySamples, startSuite, type RunningSuite } from '@terminusa/testkit';

/** The gateway alone, as a push door's tests use it: what it publishes stays in the INGEST stream, where they read it. */
export interface IngestDoor {
  suite: RunningSuite;
  /** An API key of the `producer` role, named `source` (the samples' source), and one of the `viewer` role. */
  producerKey: string;
  viewerKey: string;
  /** Messages in the namespace's INGEST stream. */
  ingestMessages(): Promise<number>;
  /** The samples of the last INGEST message of the producer's source. */
  lastSamples(): Promise<ReturnType<typeof ingestBodySamples>>;
}

/**
 * Starts the gateway alone before a file's tests (its producer key named `source`) and stops it after. The door's
 * fields are set once the file's `beforeAll` hooks have run.
 */
export function useIngestDoor(source: string): IngestDoor {
  let nc: NatsConnection | undefined;
  const door = {
    ingestMessages: async () => (await (await nc!.jetstreamManager()).streams.info(`${door.suite.ns.id}_INGEST`)).state.messages,
    lastSamples: async () => {
      const last = await (await nc!.jetstreamManager()).streams.getMessage(`${door.suite.ns.id}_INGEST`, { last_by_subj: `${door.suite.ns.id}.metrics.ingest.${source}` });
      return ingestBodySamples(last.data);
    },
  } as IngestDoor;
  beforeAll(async () => {
    door.suite = await startSuite({ services: [] });
    nc = await connect({ servers: door.suite.ns.config.nats.url });
    door.producerKey = await door.suite.apiKey(source, 'producer');
    door.viewerKey = await door.suite.apiKey('grafana', 'viewer');
  });
  afterAll(async () => {
    await nc?.close();
    await door.suite?.stop();
  });
  return door;
}
