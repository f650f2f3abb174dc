/**
 * bench:disk — what raw retention costs on disk: `BENCH_DISK_DAYS` (default 1) days of 10,000 series at a 15 s
 * interval (5,760 samples a series a day) imported into a scratch VictoriaMetrics with the suite's flags, merged,
 * then the data directory measured. Values are a fleet's mix: a quarter counters (integers that only grow), a
 * quarter integer gauges (players, queue depths), half gauges with two decimals (latencies, CPU %): random
 * doubles would compress like no real metric does. Prints bytes per sample and what 30 days would take.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { startEngineProcess } from '@terminusa/testkit';

const SERIES = 10_000;
const INTERVAL_MS = 15_000;
const DAYS = Number(process.env.BENCH_DISK_DAYS ?? 1);
const DAY = 86_400_000;
const log = (line: string) => process.stdout.write(`${line}\n`);

async function du(dir: string): Promise<number> {
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) bytes += entry.name === 'snapshots' ? 0 : await du(path);
    else if (entry.isFile()) bytes += (await stat(path)).size;
  }
  return bytes;
}

/** One series' samples over `[from, to)` as a JSON line; `kind` picks counter, integer gauge or decimal gauge. */
function seriesLine(i: number, from: number, to: number, state: Float64Array): string {
  const kind = i % 4;
  const ts: number[] = [];
  const values: number[] = [];
  for (let t = from; t < to; t += INTERVAL_MS) {
    let v = state[i]!;
    if (kind === 0) v += Math.floor(Math.random() * 50);
    else if (kind === 1) v = Math.max(0, Math.round(v + (Math.random() - 0.5) * 20));
    else v = Math.round(Math.max(0, v + (Math.random() - 0.5) * 4) * 100) / 100;
    state[i] = v;
    ts.push(t);
    values.push(v);
  }
  const metric = ['game_events_total', 'players_online', 'request_latency_ms', 'cpu_usage_percent'][kind]!;
  return JSON.stringify({ metric: { __name__: metric, shard: String(i % 100), instance: `game-${Math.floor(i / 4)}` }, values, timestamps: ts });
}

const engine = await startEngineProcess();
try {
  const start = Math.floor((Date.now() - DAYS * DAY) / DAY) * DAY;
  const state = new Float64Array(SERIES).map((_, i) => (i % 4 === 3 ? 30 : 1000));
  const t0 = performance.now();
  let samples = 0;
  // An hour of every series per request, one request at a time (the import rate is not what this measures).
  const hours = Array.from({ length: DAYS * 24 }, (_, h) => start + h * 3_600_000);
  for (const hour of hours) {
    const lines: string[] = [];
    for (let i = 0; i < SERIES; i++) lines.push(seriesLine(i, hour, hour + 3_600_000, state));
    samples += SERIES * (3_600_000 / INTERVAL_MS);
    const res = await fetch(`${engine.url}/api/v1/import`, { method: 'POST', body: `${lines.join('\n')}\n` });
    if (!res.ok) throw new Error(`import: ${res.status}`);
  }
  const importS = (performance.now() - t0) / 1000;
  await fetch(`${engine.url}/internal/force_flush`);
  // Merged as the engine merges a day's partition in time; then measured without snapshots.
  await fetch(`${engine.url}/internal/force_merge`);
  await new Promise((r) => setTimeout(r, 5000));
  await engine.kill('SIGTERM');
  const bytes = await du(engine.dataDir);
  const perSample = bytes / samples;
  const thirtyDays = perSample * SERIES * (30 * DAY / INTERVAL_MS);
  log(`bench:disk: ${DAYS} d of ${SERIES.toLocaleString('en')} series at 15 s = ${samples.toLocaleString('en')} samples, imported in ${importS.toFixed(0)} s`);
  log(`  data directory (indexdb + data, snapshots excluded): ${(bytes / 2 ** 20).toFixed(1)} MiB = ${perSample.toFixed(2)} bytes per sample`);
  log(`  30 d of 10,000 series at 15 s (${(SERIES * 30 * DAY / INTERVAL_MS / 1e9).toFixed(2)} billion samples) at that rate: ${(thirtyDays / 2 ** 30).toFixed(2)} GiB`);
  log(JSON.stringify({ bench: 'disk', days: DAYS, series: SERIES, samples, bytes, bytes_per_sample: Number(perSample.toFixed(3)), gib_30d_10k_series_15s: Number((thirtyDays / 2 ** 30).toFixed(3)) }));
} finally {
  await engine.cleanup();
}
