import { connect, type NatsConnection } from 'nats';
import { Bus, ensureStreams } from '@terminusa/bus';
import type { TestNamespace } from './test-namespace.ts';

/** A NATS connection and a Bus in the test's namespace, its streams made: what a test that publishes or consumes needs. */
export async function connectTestBus(ns: TestNamespace): Promise<{ nc: NatsConnection; bus: Bus }> {
  const nc = await connect({ servers: ns.config.nats.url });
  const bus = new Bus(nc, ns.config.nats.prefix);
  try {
    await ensureStreams(await nc.jetstreamManager(), bus.ns);
  } catch (err) {
    await nc.close();
    throw err;
  }
  return { nc, bus };
}
