import { connect, type NatsConnection } from 'nats';
import { CONSUMERS, Namespace, STREAMS, ensureConsumer, ensureStreams, isPermissionError, type ConsumerName } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import type { Logger } from './logger.ts';
import { natsConnectOptions } from './nats-connection.ts';
import { suiteConsumerOptions } from './jetstream-setup.ts';

/** The NATS user allowed to create and update the suite's streams and durable consumers, and nothing else. */
export const BOOTSTRAP_USER = 'bootstrap';

/** What the bootstrap made sure of. */
export interface BootstrapReport {
  streams: string[];
  consumers: string[];
}

export interface BootstrapOptions {
  /** Attempts before giving up while NATS or JetStream is not up yet (default 30, 2 s apart). */
  attempts?: number;
  retryMs?: number;
}

/**
 * Creates or updates every stream and durable consumer of the suite, with the settings of `config` (replicas,
 * `core.timeout`, `core.queueSize`…), as the `bootstrap` NATS user: the one-shot of `pnpm nats:bootstrap`, the
 * compose service `nats-bootstrap` and the Kubernetes Job. Safe to run again; run it again after changing those
 * settings. Retries while the server or JetStream is not ready; a permission refusal ends it at once.
 */
export async function bootstrapNats(config: Readonly<Config>, logger: Logger, options: BootstrapOptions = {}): Promise<BootstrapReport> {
  const attempts = options.attempts ?? 30;
  const retryMs = options.retryMs ?? 2000;
  const nc: NatsConnection = await connect({
    ...natsConnectOptions(config.nats, BOOTSTRAP_USER),
    name: 'nats-bootstrap',
    waitOnFirstConnect: true,
    maxReconnectAttempts: attempts,
    reconnectTimeWait: retryMs,
  });
  const ns = new Namespace(config.nats.prefix);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const jsm = await nc.jetstreamManager();
        await ensureStreams(jsm, ns, { replicas: config.nats.replicas });
        const consumers = Object.keys(CONSUMERS) as ConsumerName[];
        for (const name of consumers) await ensureConsumer(jsm, ns, name, suiteConsumerOptions(config));
        const report = {
          streams: (Object.keys(STREAMS) as (keyof typeof STREAMS)[]).map((s) => ns.stream(s)),
          consumers: consumers.map((c) => `${ns.stream(CONSUMERS[c].stream)}/${c}`),
        };
        logger.info('NATS streams and durable consumers are in place', { ...report, replicas: config.nats.replicas });
        return report;
      } catch (err) {
        if (isPermissionError(err)) throw new Error(`NATS refused the bootstrap: connect as the ${BOOTSTRAP_USER} user (NATS_URL=nats://${BOOTSTRAP_USER}@…)`, { cause: err });
        if (attempt >= attempts) throw err;
        logger.warn('JetStream not ready yet; trying again', { attempt, err });
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}
