import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngineProcess, waitFor, type EngineProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { NAMESPACE_LABEL, VictoriaMetrics, selector } from './victoria-metrics.ts';

// An engine of its own: another test's writes would flush its index at the snapshot and hide what this one looks for.
let ns: TestNamespace;
let engine: EngineProcess;
let client: VictoriaMetrics;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  engine = await startEngineProcess();
  client = new VictoriaMetrics({ ...ns.config.storage.engine, url: engine.url, durability: 'snapshot', syncIntervalMs: 0 });
}, 30_000);

afterAll(async () => {
  await engine?.cleanup();
});

const pendingIndexItems = async () => Number(/^vm_pending_rows\{type="indexdb"\} (\S+)$/m.exec(await (await fetch(`${engine.url}/metrics`)).text())?.[1] ?? NaN);

/** What a dashboard asks through the Prometheus API: the series of `match` today, in this namespace. */
async function askedElsewhere(match: string, from: number): Promise<number> {
  const params = new URLSearchParams({ 'match[]': match, start: String(from / 1000), extra_label: `${NAMESPACE_LABEL}=${ns.config.storage.engine.namespace}` });
  return ((await (await fetch(`${engine.url}/api/v1/series?${params}`)).json()) as { data: unknown[] }).data.length;
}

describe('reads of the engine', () => {
  it('see a series written and synced after the same selector was asked while it did not exist', async () => {
    const at = Date.now() - 300_000;
    for (const name of ['fresh_read_a', 'fresh_read_b', 'fresh_read_c']) {
      const match = selector(name, { host: 'h1' });
      expect(await askedElsewhere(match, at - 60_000)).toBe(0);
      const mark = await client.import(`${JSON.stringify({ metric: { __name__: name, host: 'h1' }, values: [1, 2], timestamps: [at, at + 15_000] })}\n`);
      // The engine flushes its index on its own within a second; a snapshot after that finds nothing left to flush,
      // and the engine then forgot its cached answer (no such series) only at its next 10-second tick.
      await waitFor(async () => ((await pendingIndexItems()) === 0 ? true : undefined), 10_000, 'the engine flushed its index');
      await client.sync(mark);
      expect((await client.exportAll(match, at - 60_000, Date.now())).map((s) => s.values)).toEqual([[1, 2]]);
      expect(await client.series(match, at - 60_000, Date.now())).toHaveLength(1);
    }
  });
});
