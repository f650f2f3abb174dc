import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@terminusa/runtime';
import { createTestNamespace, waitFor, type TestNamespace } from '@terminusa/testkit';
import { startStorageJobs } from './storage-jobs.ts';

let ns: TestNamespace | undefined;
afterEach(async () => {
  await ns?.cleanup();
  ns = undefined;
});

describe('the storage jobs', () => {
  it('keep folding while a retention run is still going', async () => {
    ns = await createTestNamespace({ storage: { foldInterval: 1 } });
    const logger = createLogger({ ...ns.config.log, level: 'error' }, { service: 'storage', instance: 'jobs-test' });
    let retentionStarted = false;
    let endRetention!: () => void;
    const retentionHeld = new Promise<void>((resolve) => (endRetention = resolve));
    let folds = 0;
    const jobs = await startStorageJobs(
      ns.config,
      {
        fold: async () => {
          folds++;
        },
        // Held like an archive run of a large fleet's hour, which takes minutes.
        retention: async () => {
          retentionStarted = true;
          await retentionHeld;
        },
      },
      logger,
    );
    try {
      // The retention scheduler runs once at start; folds counted from then on ran beside it.
      await waitFor(() => (retentionStarted ? true : undefined), 20_000, 'retention run started');
      const before = folds;
      await waitFor(() => (folds >= before + 2 ? true : undefined), 20_000, 'two folds while retention runs');
    } finally {
      endRetention();
      await jobs.stop();
    }
  });

  it('stop a retention run that is still going instead of waiting for it', async () => {
    ns = await createTestNamespace();
    const logger = createLogger({ ...ns.config.log, level: 'error' }, { service: 'storage', instance: 'jobs-test' });
    let running: AbortSignal | undefined;
    const jobs = await startStorageJobs(
      ns.config,
      {
        fold: async () => {},
        // An archive run of a large fleet's hour, which would take minutes: it ends only when told to stop.
        retention: async (signal) => {
          running = signal;
          await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
        },
      },
      logger,
    );
    await waitFor(() => running, 20_000, 'retention run started');
    // Without the signal reaching the run, stop() waits for it and the test times out.
    await jobs.stop();
    expect(running!.aborted).toBe(true);
  });
});
