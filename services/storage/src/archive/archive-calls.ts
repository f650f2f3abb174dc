import type pg from 'pg';
import { CALLS, type Bus } from '@terminusa/bus';
import type { VictoriaMetrics } from '@terminusa/metric-store';
import type { Logger } from '@terminusa/runtime';
import type { ArchiveIndex } from './archive-index.ts';
import { loadArchive } from './archive-partition.ts';
import { loadRawArchive } from './archive-raw.ts';

/** Answers the gateway's archive calls (list, load) in the queue group `storage`, so one replica answers each. */
export function serveArchiveCalls(bus: Bus, pool: pg.Pool, engine: VictoriaMetrics, archive: ArchiveIndex, logger: Logger): ReturnType<Bus['serve']>[] {
  const failed = (err: unknown) => logger.error('archive call failed', { err });
  return [
    bus.serve(CALLS.archiveList, async () => ({ archives: await archive.entries() }), 'storage', failed),
    bus.serve(
      CALLS.archiveLoad,
      async (req) => {
        const files = (await archive.entries()).filter((e) => e.tier === req.tier && e.from < req.to && e.to > req.from).length;
        const rows = req.tier === 'raw' ? await loadRawArchive(engine, archive, req.from, req.to) : await loadArchive(pool, archive, req.tier, req.from, req.to);
        logger.info('archive loaded', { audit: true, tier: req.tier, from: req.from, to: req.to, files, rows, requestedBy: req.requestedBy });
        return { rows, files };
      },
      'storage',
      failed,
    ),
  ];
}
