import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { startEngineProcess, startServiceProcess, waitFor, type EngineProcess, type ServiceProcess, type TestNamespace, useTestNamespace } from '@terminusa/testkit';

// The raw-sample store crashing under the storage: every sample the storage acked was on the engine's disk, and
// what it had not acked is delivered again and written once.
let ns: TestNamespace;
let engine: EngineProcess;
let nc: NatsConnection;
let client: VictoriaMetrics;
const procs: ServiceProcess[] = [];

useTestNamespace((opened) => (ns = opened));
beforeAll(async () => {
  engine = await startEngineProcess();
  client = new VictoriaMetrics({ ...ns.config.storage.engine, url: engine.url });
  // Messages a batch held when its write failed come back after the ack wait (core.timeout); short here.
  const env = { ...ns.env, VM_URL: engine.url, OPS_PORT: '0', TMON_CORE__TIMEOUT: '3' };
  for (const name of ['processor', 'storage']) procs.push(startServiceProcess(name, env));
  nc = await connect({ servers: ns.config.nats.url });
  // Core publishes before the streams and consumers exist would be dropped.
  const jsm = await nc.jetstreamManager();
  await waitFor(async () => ((await jsm.consumers.info(`${ns.id}_INGEST`, 'processor').catch(() => undefined)) && (await jsm.consumers.info(`${ns.id}_SAMPLES`, 'storage').catch(() => undefined)) ? true : undefined), 60_000, 'the consumers', 100);
}, 90_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await nc?.close();
  await engine?.cleanup();
});

/** Every stored sample of `name` as `<series>@<ts>=<value>`. */
async function stored(name: string): Promise<string[]> {
  const series = await client.exportAll(`{__name__="${name}"}`, 0, Date.now() + 60_000);
  return series.flatMap((s) => s.timestamps.map((ts, i) => `${s.labels.series}@${ts}=${s.values[i]}`));
}

describe('the engine under the storage', () => {
  it('loses and doubles nothing through a SIGKILL of the engine mid-stream, restarted as a supervisor would', async () => {
    const t0 = Date.now() - 600_000;
    const message = (m: number) => ({ samples: Array.from({ length: 100 }, (_, i) => ({ name: 'crash_load', value: m * 100 + i, ts: t0 + m * 10, tags: { series: String(i) } })) });
    const publish = (from: number, to: number) => {
      for (let m = from; m < to; m++) nc.publish(`${ns.id}.metrics.ingest.crash`, new TextEncoder().encode(JSON.stringify(message(m))));
    };
    publish(0, 40);
    await nc.flush();
    // Killed once the storage has acked part of the stream, while more is on its way.
    await waitFor(async () => ((await stored('crash_load')).length > 0 ? true : undefined), 30_000, 'first samples stored', 20).catch((err: Error) => {
      throw new Error(`${err.message}\n${procs.map((p) => p.output()).join('\n')}`);
    });
    publish(40, 70);
    await engine.kill('SIGKILL');
    publish(70, 100);
    await nc.flush();
    await engine.start();
    let seen: string[] = [];
    const all = await waitFor(async () => {
      seen = await stored('crash_load');
      return seen.length >= 10_000 ? seen : undefined;
    }, 60_000, 'all 10,000 samples stored', 200).catch((err: Error) => {
      // Which messages are missing, whole or in part, tells a lost ack from a stuck consumer.
      const perMessage = new Map<number, number>();
      for (const s of seen) {
        const m = (Number(s.split('@')[1]!.split('=')[0]) - t0) / 10;
        perMessage.set(m, (perMessage.get(m) ?? 0) + 1);
      }
      const short = Array.from({ length: 100 }, (_, m) => m).filter((m) => perMessage.get(m) !== 100).map((m) => `${m}:${perMessage.get(m) ?? 0}`);
      throw new Error(`${err.message}: ${seen.length} stored; messages short (index:samples) ${short.join(' ')}\n${procs.map((p) => p.output().slice(-4000)).join('\n')}`);
    });
    const want = Array.from({ length: 100 }, (_, m) => Array.from({ length: 100 }, (_, i) => `${i}@${t0 + m * 10}=${m * 100 + i}`)).flat();
    expect(all.sort()).toEqual(want.sort());
  }, 120_000);
});
