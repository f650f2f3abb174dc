/**
 * Raw limits of the ingest path's parts on this machine: JetStream publish alone, the engine's import alone.
 */
import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type JetStreamClient, type JetStreamManager } from 'nats';
import { VictoriaMetrics } from '@terminusa/metric-store';
import { startEngineProcess } from '@terminusa/testkit';
import { MessageFactory, SAMPLES_PER_MESSAGE, SERIES, publishPhase, type PublishResult } from './ingest-load.ts';

/** JetStream alone: the same messages, the same window, into a scratch file-backed stream nobody consumes. */
export async function jetstreamLimit(
  js: JetStreamClient,
  jsm: JetStreamManager,
  prefix: string,
  seconds: number,
  window: number,
): Promise<{ stream: string; perS: number; result: PublishResult }> {
  const stream = `${prefix}_BENCH_SCRATCH`;
  const subject = `${prefix}.benchscratch.ingest`;
  // Like INGEST: file storage, a 2-minute duplicate window (every publish carries a Nats-Msg-Id).
  await jsm.streams.add({
    name: stream,
    subjects: [subject],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(2 * 60_000),
    max_age: nanos(3_600_000),
  });
  const result = await publishPhase({ js, subject, factory: new MessageFactory(), idPrefix: `${prefix}-scratch`, window, durationMs: seconds * 1000 });
  const perS = (result.acked * SAMPLES_PER_MESSAGE) / ((result.lastAckAt - result.firstAt) / 1000);
  return { stream, perS, result };
}

/**
 * The engine's import alone: the load's samples as the storage writes them (JSON lines, a line per series with its
 * samples of a batch), 10,000 series × 10 samples a request (a storage batch of 1,000 messages), 4 requests in
 * flight, into a fresh VictoriaMetrics started for it with the suite's flags; timed until the last request is
 * answered and a snapshot (the storage's durability step) is taken.
 */
export async function engineLimit(seconds: number): Promise<{ perS: number; samples: number }> {
  const engine = await startEngineProcess();
  try {
    const client = new VictoriaMetrics({ url: engine.url, durability: 'snapshot', username: 'terminusa', syncIntervalMs: 250, snapshotMaxAge: '24h', namespace: '', timeoutMs: 120_000, rates: 'engine', windowStart: 'excluded' });
    const samplesPerSeries = 10;
    const base = Date.now();
    let request = 0;
    let samples = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    const worker = async () => {
      while (performance.now() < end) {
        const r = request++;
        let body = '';
        for (let i = 0; i < SERIES; i++) {
          const ts = Array.from({ length: samplesPerSeries }, (_, k) => base + (r * samplesPerSeries + k) * 10);
          body += `{"metric":{"__name__":"bench_ingest","series":"${i}"},"values":[${ts.map((_, k) => (r + k + i) % 1000).join(',')}],"timestamps":[${ts.join(',')}]}\n`;
        }
        await client.sync(await client.import(body));
        samples += SERIES * samplesPerSeries;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return { perS: samples / ((performance.now() - t0) / 1000), samples };
  } finally {
    await engine.cleanup();
  }
}
