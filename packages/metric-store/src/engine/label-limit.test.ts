import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineMaxLabels } from '@terminusa/config';
import { startEngineProcess, type EngineProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { VictoriaMetrics } from './victoria-metrics.ts';

let ns: TestNamespace;
let engine: EngineProcess;
let defaults: EngineProcess;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  // As the suite starts it, and as the engine runs when nothing says otherwise (30 labels).
  [engine, defaults] = await Promise.all([startEngineProcess(), startEngineProcess({ flags: ['-maxLabelsPerTimeseries=30'] })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([engine?.cleanup(), defaults?.cleanup()]);
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
});
