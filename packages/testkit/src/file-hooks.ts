import type { NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { Bus } from '@terminusa/bus';
import { connectTestBus } from './test-bus.ts';
import { createTestNamespace, type TestNamespace } from './test-namespace.ts';

/** Overrides as createTestNamespace takes them, or a function that gives them when the namespace is created. */
type Overrides = Record<string, unknown> | (() => Record<string, unknown>);

const overridesOf = (overrides: Overrides) => (typeof overrides === 'function' ? overrides() : overrides);

/**
 * A namespace for every test of the file that calls it at its top level (`overrides` as createTestNamespace takes
 * them): created before the first test and handed to `opened`, cleaned up after the last. The file's own
 * `beforeAll` hooks declared after it run after it, its `afterAll` hooks before the cleanup (vitest runs after-hooks
 * in reverse). Overrides that need what a `beforeAll` declared before it makes (a server's port) can be given as a
 * function, called when the namespace is created.
 */
export function useTestNamespace(opened: (ns: TestNamespace) => unknown, overrides: Overrides = {}): void {
  namespaceHooks(beforeAll, afterAll, opened, overrides);
}

/** {@link useTestNamespace} with `beforeEach` and `afterEach`: a fresh namespace for every test of the file, cleaned up after that test. */
export function useTestNamespacePerTest(opened: (ns: TestNamespace) => unknown, overrides: Overrides = {}): void {
  namespaceHooks(beforeEach, afterEach, opened, overrides);
}

/** A namespace made by `before` and cleaned up by `after` (vitest's per-file or per-test hooks). */
function namespaceHooks(before: typeof beforeAll, after: typeof afterAll, opened: (ns: TestNamespace) => unknown, overrides: Overrides): void {
  let ns: TestNamespace | undefined;
  before(async () => {
    ns = await createTestNamespace(overridesOf(overrides));
    await opened(ns);
  });
  after(async () => {
    await ns?.cleanup();
    ns = undefined;
  });
}

/** What {@link useTestBus} opens for the tests of one file. */
export interface OpenTestBus {
  ns: TestNamespace;
  nc: NatsConnection;
  bus: Bus;
}

/** {@link useTestNamespace} with a NATS connection and a Bus in the namespace (connectTestBus), closed before the cleanup. */
export function useTestBus(opened: (bus: OpenTestBus) => unknown, overrides: Overrides = {}): void {
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
