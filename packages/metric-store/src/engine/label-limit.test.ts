import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineMaxLabels } from '@terminusa/config';
import { startEngineProcess, type EngineProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { durationFlagMs, VictoriaMetrics } from './victoria-metrics.ts';

let ns: TestNamespace;
let engine: EngineProcess;
let defaults: EngineProcess;
let scrapeDedup: EngineProcess;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  // As the suite starts it, and as the engine runs when nothing says otherwise (30 labels).
  [engine, defaults, scrapeDedup] = await Promise.all([
    startEngineProcess(),
    startEngineProcess({ flags: ['-maxLabelsPerTimeseries=30'] }),
    // As VictoriaMetrics' advice for scraped data has it: one sample per series in each scrape interval.
    startEngineProcess({ flags: ['-dedup.minScrapeInterval=15s'] }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([engine?.cleanup(), defaults?.cleanup(), scrapeDedup?.cleanup()]);
});

const client = (at: EngineProcess) => new VictoriaMetrics({ ...ns.config.storage.engine, url: at.url, durability: 'snapshot' });

describe('the labels the engine keeps', () => {
  it('are every label a sample may have: the most tags, an event\'s two, __name__ and the namespace', async () => {
    const vm = client(engine);
    await vm.checkFlags(engineMaxLabels(ns.config));
    const tags = Object.fromEntries(Array.from({ length: ns.config.ingest.maxTags + 2 }, (_, i) => [`t${String(i).padStart(2, '0')}`, 'v']));
    const at = Date.now() - 60_000;
    await vm.sync(await vm.import(JSON.stringify({ metric: { __name__: 'wide', ...tags }, values: [1], timestamps: [at] })));
    const [series] = await vm.exportAll('{__name__="wide"}', 0, Date.now() + 60_000);
    expect(Object.keys(series!.labels).length).toBe(engineMaxLabels(ns.config));
  });

  it('are checked before the storage writes: an engine keeping fewer is refused with the flag to set', async () => {
    await expect(client(defaults).checkFlags(engineMaxLabels(ns.config))).rejects.toThrow(/keeps 30 labels per series, fewer than the 36 .* start it with -maxLabelsPerTimeseries=36/);
  });

  it('are checked with the deduplication the suite needs: one sample per series and timestamp, not per scrape interval', async () => {
    await expect(client(scrapeDedup).checkFlags(engineMaxLabels(ns.config))).rejects.toThrow(/-dedup\.minScrapeInterval=15s: it keeps one sample per series in each 15s .* start it with -dedup\.minScrapeInterval=1ms/);
    expect([durationFlagMs('1ms'), durationFlagMs('15s'), durationFlagMs('1m30s'), durationFlagMs('0'), durationFlagMs('500us')]).toEqual([1, 15_000, 90_000, 0, 0.5]);
    expect(durationFlagMs('soon')).toBeNaN();
  });
});
