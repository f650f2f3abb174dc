import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/dashboard/web/**/*.test.ts', 'services/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Every test works in its own namespace on the real servers, so files run in parallel.
    fileParallelism: true,
    // Builds the web dashboard once, so the gateway started by tests serves it (tests/browser) on a fresh clone too;
    // starts a VictoriaMetrics for the run when none answers.
    globalSetup: ['packages/dashboard/src/build-dashboard.global-setup.ts', 'packages/testkit/src/engine.global-setup.ts'],
  },
});
