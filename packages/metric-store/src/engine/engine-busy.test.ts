import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngineProcess, waitFor, type EngineProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';
import { VictoriaMetrics } from './victoria-metrics.ts';

// The single node counts a snapshot among its concurrent searches: one export in progress takes this engine's only place.
let ns: TestNamespace;
let engine: EngineProcess;
let client: VictoriaMetrics;

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  engine = await startEngineProcess({ flags: ['-search.maxConcurrentRequests=1', '-search.maxQueueDuration=10ms'] });
  client = new VictoriaMetrics({ ...ns.config.storage.engine, url: engine.url, durability: 'snapshot' });
  // Enough samples that their export fills the socket's buffers and waits on a reader that does not read.
  const at = Date.now() - 3_600_000;
  const lines = Array.from({ length: 10_000 }, (_, i) =>
    JSON.stringify({ metric: { __name__: 'busy_metric', series: String(i) }, values: Array.from({ length: 100 }, (_, k) => k), timestamps: Array.from({ length: 100 }, (_, k) => at + k * 1000) }),
  );
  await client.sync(await client.import(`${lines.join('\n')}\n`));
}, 60_000);

afterAll(async () => {
  await engine?.cleanup();
});

const selectRefusals = async () => Number(/^vm_concurrent_select_limit_timeout_total (\S+)$/m.exec(await (await fetch(`${engine.url}/metrics`)).text())?.[1] ?? 0);

/** Starts an export of every sample and reads none of it, so the engine's one search place stays taken until `release`. */
function holdSearchPlace(): Promise<{ release(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(`${engine.url}/api/v1/export?match[]=${encodeURIComponent('{__name__="busy_metric"}')}`, (res) => {
      res.pause();
      resolve({ release: () => req.destroy() });
    });
    // Also the listener for the abort that `release` causes (a rejection after the resolve changes nothing).
    req.on('error', reject);
    req.end();
  });
}

describe('VictoriaMetrics while the engine is busy', () => {
  it('takes a snapshot once the engine has room again instead of failing on its 503', async () => {
    const held = await holdSearchPlace();
    try {
      // The engine refuses a snapshot now: that is the state the client must ride out.
      expect((await fetch(`${engine.url}/snapshot/create`)).status).toBe(503);
      const before = await selectRefusals();
      const snapshot = client.createSnapshot();
      await waitFor(async () => ((await selectRefusals()) > before ? true : undefined), 10_000, 'the engine refusing the client once');
      held.release();
      expect(await snapshot).toMatch(/^\d{14}-[0-9A-Fa-f]{8,16}$/);
    } finally {
      held.release();
    }
  }, 60_000);

  it('exports (a rollup run\'s read) once the engine has room again instead of failing on its 503', async () => {
    const held = await holdSearchPlace();
    try {
      const before = await selectRefusals();
      const exported = client.exportAll('{__name__="busy_metric",series="7"}', Date.now() - 7_200_000, Date.now());
      await waitFor(async () => ((await selectRefusals()) > before ? true : undefined), 10_000, 'the engine refusing the client once');
      held.release();
      const series = await exported;
      expect(series).toHaveLength(1);
      expect(series[0]!.values).toEqual(Array.from({ length: 100 }, (_, k) => k));
    } finally {
      held.release();
    }
  }, 60_000);

  it('reads an export that takes longer than the request timeout in all, as long as it keeps coming', async () => {
    // A rollup run's export of a million series under load takes longer than the timeout; each chunk comes soon.
    const patient = new VictoriaMetrics({ ...ns.config.storage.engine, url: engine.url, timeoutMs: 1_000 });
    const started = Date.now();
    let series = 0;
    for await (const s of patient.export('{__name__="busy_metric"}', Date.now() - 7_200_000, Date.now())) {
      expect(s.values).toHaveLength(100);
      if (++series % 1_000 === 0) await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(series).toBe(10_000);
    expect(Date.now() - started).toBeGreaterThan(1_000);
  }, 60_000);
});
