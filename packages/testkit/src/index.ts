export { createTestNamespace, TEST_SERVERS } from './test-namespace.ts';
export type { TestNamespace } from './test-namespace.ts';
export { waitFor } from './wait-for.ts';
export { startServiceProcess } from './service-process.ts';
export type { ServiceProcess } from './service-process.ts';
export { freePort } from './free-port.ts';
export { startSuite, STARTUP_MS } from './running-suite.ts';
export type { RunningSuite, ServiceName, SuiteOptions } from './running-suite.ts';
export { oneMistake, wrongValues } from './one-mistake.ts';
