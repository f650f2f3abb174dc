import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import type { Registry } from 'prom-client';
import { loadConfig, loadConfigOrExit, type Config, type ServiceName } from '@terminusa/config';
import { Bus } from '@terminusa/bus';
import { createLogger, type Logger } from './logger.ts';
import { Health } from './health.ts';
import { createRegistry } from './metrics.ts';
import { startOpsServer } from './ops-server.ts';
import { registerInstance } from './discovery.ts';
import { natsConnectOptions } from './nats-connection.ts';
import { prepareStreams } from './jetstream-setup.ts';

/** The ops port each of the suite's services uses when none is configured. */
export const SERVICE_OPS_PORTS = {
  collector: 9101,
  processor: 9102,
  'alert-manager': 9103,
  storage: 9104,
  backup: 9105,
  'api-gateway': 9106,
} as const satisfies Record<ServiceName, number>;

/** Everything a service needs from the runtime, built once by `runService`. */
export interface ServiceContext {
  readonly config: Readonly<Config>;
  readonly logger: Logger;
  readonly nc: NatsConnection;
  readonly bus: Bus;
  readonly registry: Registry;
  readonly health: Health;
  readonly instance: string;
  /** Registers a step of shutdown; steps run in reverse order of registration, before NATS is drained. */
  onStop(name: string, stop: () => Promise<void> | void): void;
}

/** What a service is and how it starts. */
export interface ServiceDefinition {
  name: ServiceName;
  description: string;
  version?: string;
  /** Wires the service's components; registers their stop steps with `ctx.onStop`. */
  start(ctx: ServiceContext): Promise<void>;
}

/** Options for starting a service in-process (tests) rather than as `main`. */
export interface RunOptions {
  config?: Readonly<Config>;
  /** Exit the process on SIGTERM/SIGINT and fatal errors; off when a test runs the service in-process. */
  handleSignals?: boolean;
}

/** A started service. */
export interface RunningService {
  readonly context: ServiceContext;
  readonly opsPort: number;
  /** Graceful shutdown; resolves false if it took longer than the configured timeout. */
  stop(): Promise<boolean>;
}

/**
 * The one bootstrap of every service: config, logger, metrics, ops server, NATS, streams (created, or bound to
 * when `nats.manageStreams` is false), discovery, the service's own components, and an ordered, bounded
 * shutdown on SIGTERM/SIGINT.
 */
export async function runService(def: ServiceDefinition, options: RunOptions = {}): Promise<RunningService> {
  const handleSignals = options.handleSignals ?? true;
  const config = options.config ?? (handleSignals ? loadConfigOrExit({}, def.name) : loadConfig());

  const instance = `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const logger = createLogger(config.log, { service: def.name, instance });
  const registry = createRegistry({ service: def.name, instance });
  const health = new Health(def.name, instance);
  const ops = await startOpsServer(health, registry, config.ops.host, config.ops.port ?? SERVICE_OPS_PORTS[def.name], config.ops.metricsToken);

  const nc = await connect({
    // Its servers and credentials, its own inbox prefix (_INBOX_<service>) and TLS when configured.
    ...natsConnectOptions(config.nats, def.name),
    name: `${def.name}-${instance}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
  });
  void (async () => {
    for await (const status of nc.status()) logger.info('nats status', { event: status.type, data: String(status.data) });
  })();
  health.add('nats', async () => {
    if (nc.isClosed()) throw new Error('connection closed');
    await nc.flush();
  });

  const bus = new Bus(nc, config.nats.prefix);
  await prepareStreams(nc, bus, config, logger);

  const stopSteps: { name: string; stop: () => Promise<void> | void }[] = [];
  const context: ServiceContext = {
    config,
    logger,
    nc,
    bus,
    registry,
    health,
    instance,
    onStop: (name, stop) => stopSteps.push({ name, stop }),
  };

  await def.start(context);
  const srv = await registerInstance(bus, health, {
    service: def.name,
    version: def.version ?? '0.1.0',
    description: def.description,
    metadata: { namespace: config.nats.prefix, instance, host: hostname(), address: config.ops.address ?? '', opsPort: String(ops.port) },
  });
  health.setReady(true);
  logger.info('service started', { opsPort: ops.port });

  let stopping: Promise<boolean> | undefined;
  const stop = (): Promise<boolean> =>
    (stopping ??= (async () => {
      logger.info('shutting down', { timeoutSeconds: config.shutdownTimeout });
      health.setReady(false);
      const graceful = (async () => {
        // Stop discovery first so no new work is routed here, then the service's own steps (intake first,
        // stores last), and only then drain NATS, which flushes the acks those steps sent.
        // At most a second: with NATS away its drain waits for a round trip that never comes, and the service's own
        // steps (naks, workers closed, pools ended) never ran before the timeout.
        await Promise.race([srv.stop().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        for (const step of [...stopSteps].reverse()) {
          try {
            await step.stop();
          } catch (err) {
            logger.error('shutdown step failed', { step: step.name, err });
          }
        }
        await nc.drain().catch(() => undefined);
        await ops.close();
        return true;
      })();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), config.shutdownTimeout * 1000);
      });
      const ok = await Promise.race([graceful, timedOut]);
      clearTimeout(timer);
      if (ok) logger.info('stopped');
      else logger.error('shutdown timed out; exiting anyway', { timeoutSeconds: config.shutdownTimeout });
      return ok;
    })());

  if (handleSignals) {
    let exiting = false;
    const exit = (ok: boolean) => {
      if (exiting) return;
      exiting = true;
      logger.on('finish', () => process.exit(ok ? 0 : 1)).end();
    };
    // Every signal, not the first only: a second one (Ctrl-C in a terminal and its supervisor forwarding it) killed
    // the process mid-drain by the default handling `once` left behind; stop() runs once whatever asks it.
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop().then(exit));
    process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { err }));
    process.on('uncaughtException', (err) => {
      logger.error('uncaught exception; exiting', { err });
      void stop().then(() => exit(false));
    });
    void nc.closed().then((err) => {
      if (err && !stopping) {
        logger.error('nats connection closed; exiting', { err });
        void stop().then(() => exit(false));
      }
    });
  }

  return { context, opsPort: ops.port, stop };
}
