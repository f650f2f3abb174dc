import { afterEach, describe, it } from 'vitest';
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
});
