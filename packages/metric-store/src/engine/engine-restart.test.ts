import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngineProcess, type EngineProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { EngineRestarted, VictoriaMetrics } from './victoria-metrics.ts';

// A sync vouches for writes only if the engine process that took them is the one that flushed them.
let ns: TestNamespace;
let engine: EngineProcess;
let client: VictoriaMetrics;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  engine = await startEngineProcess();
  client = new VictoriaMetrics({ ...ns.config.storage.engine, url: engine.url, durability: 'snapshot' });
}, 60_000);

afterAll(async () => {
  await engine?.cleanup();
});

const line = (name: string, value: number, ts: number) => JSON.stringify({ metric: { __name__: name }, values: [value], timestamps: [ts] });
const stored = async (name: string) => (await client.exportAll(`{__name__="${name}"}`, 0, Date.now() + 60_000)).flatMap((s) => s.values);

describe('VictoriaMetrics.sync', () => {
  it('vouches for writes the same engine process flushed', async () => {
    const at = Date.now() - 60_000;
    await client.sync(await client.import(line('kept', 1, at)));
    expect(await stored('kept')).toEqual([1]);
  });

  it('refuses writes taken by a process that was killed before the sync, and vouches for them written again', async () => {
    const at = Date.now() - 60_000;
    const mark = await client.import(line('rewritten', 7, at));
    // The rows sit in the engine's memory until a snapshot: a SIGKILL takes them along.
    await engine.kill('SIGKILL');
    await engine.start();
    await expect(client.sync(mark)).rejects.toThrow(EngineRestarted);

    await client.sync(await client.import(line('rewritten', 7, at)));
    expect(await stored('rewritten')).toEqual([7]);
  }, 60_000);
});
