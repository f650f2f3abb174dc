import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll } from 'vitest';
import { Bus, ensureStreams } from '@terminusa/bus';
import { createTestNamespace, type TestNamespace } from './test-namespace.ts';

/** A NATS connection and a Bus in the test's namespace, its streams made: what a test that publishes or consumes needs. */
export async function connectTestBus(ns: TestNamespace): Promise<{ nc: NatsConnection; bus: Bus }> {
  const nc = await connect({ servers: ns.config.nats.url });
  const bus = new Bus(nc, ns.config.nats.prefix);
  await ensureStreams(await nc.jetstreamManager(), bus.ns);
  return { nc, bus };
}

/** What {@link useTestBus} opens for the tests of one file. */
export interface OpenTestBus {
  ns: TestNamespace;
  nc: NatsConnection;
  bus: Bus;
}

/**
 * A namespace and a bus in it for every test of the file that calls it (at its top level): opened before the first
 * test and handed to `opened`, closed after the last. A file's own `beforeAll` hooks declared after it run after it,
 * its `afterAll` hooks before the bus closes.
 */
export function useTestBus(opened: (bus: OpenTestBus) => void): void {
  let held: Partial<OpenTestBus> = {};
  beforeAll(async () => {
    held = { ns: await createTestNamespace() };
    Object.assign(held, await connectTestBus(held.ns!));
    opened(held as OpenTestBus);
  });
  afterAll(async () => {
    await held.nc?.close();
    await held.ns?.cleanup();
  });
}
