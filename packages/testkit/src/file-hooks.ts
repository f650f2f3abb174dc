import type { NatsConnection } from 'nats';
import { afterAll, beforeAll } from 'vitest';
import type { Bus } from '@terminusa/bus';
import { connectTestBus } from './test-bus.ts';
import { createTestNamespace, type TestNamespace } from './test-namespace.ts';

/**
 * A namespace for every test of the file that calls it at its top level (`overrides` as createTestNamespace takes
 * them): created before the first test and handed to `opened`, cleaned up after the last. The file's own
 * `beforeAll` hooks declared after it run after it, its `afterAll` hooks before the cleanup (vitest runs after-hooks
 * in reverse).
 */
export function useTestNamespace(opened: (ns: TestNamespace) => unknown, overrides: Record<string, unknown> = {}): void {
  let ns: TestNamespace | undefined;
  beforeAll(async () => {
    ns = await createTestNamespace(overrides);
    await opened(ns);
  });
  afterAll(async () => {
    await ns?.cleanup();
  });
}

/** What {@link useTestBus} opens for the tests of one file. */
export interface OpenTestBus {
  ns: TestNamespace;
  nc: NatsConnection;
  bus: Bus;
}

/** {@link useTestNamespace} with a NATS connection and a Bus in the namespace (connectTestBus), closed before the cleanup. */
export function useTestBus(opened: (bus: OpenTestBus) => unknown, overrides: Record<string, unknown> = {}): void {
  let nc: NatsConnection | undefined;
  useTestNamespace(async (ns) => {
    const connected = await connectTestBus(ns);
    nc = connected.nc;
    await opened({ ns, ...connected });
  }, overrides);
  afterAll(async () => {
    await nc?.close();
  });
}
