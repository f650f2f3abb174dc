import type { NatsConnection } from 'nats';
import { bindConsumer, bindStreams, consumerConfig, ensureConsumer, ensureStreams, isPermissionError, type Bus, type ConsumerName, type ConsumerOptions } from '@terminusa/bus';
import type { Config } from '@terminusa/config';
import type { Logger } from './logger.ts';

/** The options of the suite's durable consumers under `config`: the same for the services and the NATS bootstrap. */
export function suiteConsumerOptions(config: Pick<Config, 'core' | 'nats'>): ConsumerOptions {
  return { ackWaitSeconds: config.core.timeout, core: config.core, replicas: config.nats.replicas };
}

const BOOTSTRAP_HINT =
  'this NATS user may not create or update streams and consumers: set nats.manageStreams to false (TMON_NATS__MANAGE_STREAMS=false) and let the NATS bootstrap create them (pnpm nats:bootstrap; node tools/nats-bootstrap.mjs in the image)';

/** A permission refusal from NATS, told as what to change; anything else as it is. */
function explained(err: unknown, what: string): unknown {
  return isPermissionError(err) ? new Error(`NATS refused to create or update ${what}: ${BOOTSTRAP_HINT}`, { cause: err }) : err;
}

/**
 * The suite's streams, before a service starts: created or updated when `nats.manageStreams` (local development,
 * tests), else only looked up, waiting for the NATS bootstrap to create the missing ones.
 */
export async function prepareStreams(nc: NatsConnection, bus: Bus, config: Pick<Config, 'nats'>, logger: Logger): Promise<void> {
  const jsm = await nc.jetstreamManager();
  if (config.nats.manageStreams) {
    await ensureStreams(jsm, bus.ns, { replicas: config.nats.replicas }).catch((err: unknown) => {
      throw explained(err, 'the streams');
    });
    return;
  }
  logger.info('binding to the streams the NATS bootstrap made (nats.manageStreams is false)');
  await bindStreams(jsm, bus.ns, { onMissing: (what) => logger.warn('waiting for a stream the NATS bootstrap creates', { stream: what }) });
}

/**
 * A service's durable consumer, before it pulls: created or updated when `nats.manageStreams`, else looked up
 * (waiting for the NATS bootstrap), with a warning when its settings differ from what this configuration gives.
 * Returns the consumer's ack wait in ms, which the service's progress marks must keep inside.
 */
export async function prepareConsumer(ctx: { config: Pick<Config, 'core' | 'nats'>; bus: Bus; logger: Logger }, name: ConsumerName): Promise<number> {
  const { config, bus, logger } = ctx;
  const jsm = await bus.nc.jetstreamManager();
  const options = suiteConsumerOptions(config);
  if (config.nats.manageStreams) {
    await ensureConsumer(jsm, bus.ns, name, options).catch((err: unknown) => {
      throw explained(err, `the durable consumer ${name}`);
    });
    return config.core.timeout * 1000;
  }
  const info = await bindConsumer(jsm, bus.ns, name, {
    onMissing: (what) => logger.warn('waiting for the durable consumer the NATS bootstrap creates', { consumer: what }),
  });
  const wanted = consumerConfig(bus.ns, name, options);
  const differs = (['ack_wait', 'max_ack_pending', 'filter_subject'] as const).filter((k) => info.config[k] !== wanted[k]);
  if (differs.length) {
    logger.warn('the durable consumer differs from this configuration; run the NATS bootstrap again with it', {
      consumer: name,
      settings: Object.fromEntries(differs.map((k) => [k, { has: info.config[k], wanted: wanted[k] }])),
    });
  } else {
    logger.info('bound to the durable consumer the NATS bootstrap made', { consumer: name });
  }
  // Nanoseconds in JetStream's config.
  return info.config.ack_wait === undefined ? config.core.timeout * 1000 : info.config.ack_wait / 1e6;
}
