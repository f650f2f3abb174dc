/**
 * Prometheus remote_write into the suite at more than it takes, beside the engine alone (issue 16: "remote_write
 * ingest from Prometheus into the suite, samples/s sustained, nothing lost, beside Prometheus remote-writing to the
 * engine alone"). `pnpm bench:promql` sends what its 945 series scraped every second offer, a rate both sides take
 * whole; this one offers a fleet's worth, so that what a side sustains is its own figure, not the offer's.
 *
 * Workload: BENCH_RW_SERIES (default 100,000) gauges over BENCH_RW_TARGETS (20) exporter targets (node http servers,
 * Prometheus text format, 5,000 series a metric name, half the suite's limit per name), scraped by Debian's Prometheus 2.42 every BENCH_RW_INTERVAL_S (2 s) for
 * BENCH_RW_SECONDS (120 s): 50,000 samples/s offered, plus each target's `up` and `scrape_*` series. Prometheus runs
 * with its default queue_config, as an SRE's agent does, and remote-writes
 *   (1) to the suite: the gateway's `POST /api/v1/write` with a producer API key; gateway, processor, storage and
 *       alert-manager, one replica each, shipped defaults, the bundles the image runs, over a fresh VictoriaMetrics;
 *   (2) then to a fresh VictoriaMetrics alone (`/api/v1/write`), from a fresh Prometheus scraping the same exporters.
 * One side at a time, so that neither takes the other's CPU.
 *
 * Measured per side: offered (Prometheus' appended samples per second over the run); sustained: the samples
 * Prometheus holds up to T (the end of the run) over the time from its start until the side holds every one of them
 * (`count_over_time` of each name, summed, at T, asked of Prometheus and of the side's query API: the gateway's for
 * the suite), the scrapes going on meanwhile. Counting starts 31 s after T, when the engine shows samples of T
 * (-search.latencyOffset); a side complete at that first count kept up, and its figure is what it was offered over
 * the run (T − start), not its ceiling. Lost and extra (the totals' difference when complete or at the
 * deadline, BENCH_RW_COMPLETE_S, 600 s); Prometheus' failed, retried and dropped samples. Both sides store one
 * sample per series and timestamp, so equal totals mean nothing lost.
 *
 *   pnpm bench:remote-write
 *   BENCH_RW_SERIES=20000 BENCH_RW_SECONDS=60 pnpm bench:remote-write        (a quick run while developing)
 *   BENCH_RW_SAMPLES_PER_SEND=2000 pnpm bench:remote-write                   (Prometheus as docs/remote-write.md sets it)
 *
 * Prints what it measures, then as the last line one JSON object for scripts to pick up.
 */
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { APPENDED, DROPPED, envNumber, FAILED, fmt, isoTime, RETRIED, roundTo, selfMetrics, SENT, startEngineProcess, startPrometheus, startSuite, waitFor, type EngineProcess, type PrometheusProcess, type RunningSuite } from '@terminusa/testkit';

const wholePositive = (n: number) => Number.isInteger(n) && n > 0;
const SERIES = envNumber('BENCH_RW_SERIES', 100_000, wholePositive);
const TARGETS = envNumber('BENCH_RW_TARGETS', 20, wholePositive);
const INTERVAL_S = envNumber('BENCH_RW_INTERVAL_S', 2, wholePositive);
const SECONDS = envNumber('BENCH_RW_SECONDS', 120, wholePositive);
const COMPLETE_S = envNumber('BENCH_RW_COMPLETE_S', 600, wholePositive);
/** Prometheus' `max_samples_per_send`; unset, its default (500 in 2.42), as an agent left unchanged sends. */
const SAMPLES_PER_SEND = process.env.BENCH_RW_SAMPLES_PER_SEND ? envNumber('BENCH_RW_SAMPLES_PER_SEND', 500, wholePositive) : undefined;
const QUEUE = SAMPLES_PER_SEND ? `\n    queue_config: { max_samples_per_send: ${SAMPLES_PER_SEND} }` : '';
/** Series per metric name: half the shipped cardinality limit per name (`ingest.maxSeriesPerMetric`, 10,000). */
const PER_NAME = 5000;
const LATENCY_OFFSET_S = 30;
const JOB = 'rw';

/** The exporters: target t serves the series t, t + TARGETS, …, each a gauge whose value moves with every scrape. */
class Exporters {
  private readonly servers: Server[] = [];
  readonly ports: number[] = [];

  async start(): Promise<void> {
    for (let t = 0; t < TARGETS; t++) {
      let scrapes = 0;
      const server = createServer((_req, res) => {
        scrapes++;
        let body = '';
        for (let i = t; i < SERIES; i += TARGETS) body += `rw_load_${Math.floor(i / PER_NAME)}{series="${i}"} ${(i * 7 + scrapes) % 1000}\n`;
        res.setHeader('content-type', 'text/plain; version=0.0.4');
        res.end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.servers.push(server);
      this.ports.push((server.address() as { port: number }).port);
    }
  }

  /** prometheus.yml of a scraper of every target, remote-writing as `remoteWrite` (YAML of one remote_write entry). */
  prometheusYml(remoteWrite: string): string {
    const targets = this.ports.map((port) => `'127.0.0.1:${port}'`).join(', ');
    return `global: { scrape_interval: ${INTERVAL_S}s, scrape_timeout: ${INTERVAL_S}s, evaluation_interval: 1m }
scrape_configs:
  - job_name: ${JOB}
    static_configs: [{ targets: [${targets}] }]
remote_write:
${remoteWrite}
`;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/**
 * The samples of the job held at `at` (ms) over the last `windowS` seconds, through a Prometheus query API; undefined
 * when not answered. Summed per name: count_over_time drops the names, and `up` and the `scrape_*` series share labels.
 */
async function heldUpTo(url: string, headers: Record<string, string>, names: readonly string[], at: number, windowS: number): Promise<number | undefined> {
  const query = names.map((name) => `sum(count_over_time(${name}{job="${JOB}"}[${windowS}s]))`).join(' + ');
  const body = new URLSearchParams({ query, time: String(at / 1000) });
  const res = await fetch(`${url}/api/v1/query`, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body }).catch(() => undefined);
  if (!res?.ok) return undefined;
  const answer = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  return Number(answer.data?.result?.[0]?.value[1] ?? 0);
}

interface SideResult {
  offeredPerS: number;
  sustainedPerS: number;
  held: number;
  lost: number;
  extra: number;
  completeAfterS: number | null;
  /** Whether the side held everything up to T as soon as the engine shows it: it took all that was offered. */
  keptUp: boolean;
  failed: number;
  retried: number;
  dropped: number;
}

/** Where a Prometheus writes to, and where its samples are counted afterwards. */
interface Side {
  label: string;
  remoteWrite: string;
  queryUrl: string;
  queryHeaders: Record<string, string>;
}

/** One side's run: a fresh Prometheus scrapes the exporters for SECONDS, then waits until the side holds all up to T. */
async function measure(side: Side, exporters: Exporters): Promise<SideResult> {
  console.log(`\n${side.label}`);
  const prometheus: PrometheusProcess = await startPrometheus(exporters.prometheusYml(side.remoteWrite));
  try {
    const startedAt = Date.now();
    const t0 = performance.now();
    for (let s = 0; s < SECONDS; s += 30) {
      await sleep(Math.min(30, SECONDS - s) * 1000);
      const m = await selfMetrics(prometheus.url);
      console.log(`  ${fmt(Math.min(SECONDS, s + 30))} s: scraped ${fmt(m.get(APPENDED) ?? 0)}, sent ${fmt(m.get(SENT) ?? 0)}, retried ${fmt(m.get(RETRIED) ?? 0)}`);
    }
    const atEnd = await selfMetrics(prometheus.url);
    const offeredPerS = (atEnd.get(APPENDED) ?? 0) / ((performance.now() - t0) / 1000);
    // T: the end of the run, a whole second; the window reaches back before Prometheus' first scrape.
    const T = Math.floor(Date.now() / 1000) * 1000 - 1000;
    const windowS = Math.ceil((T - startedAt) / 1000) + 60;
    const names = ((await (await fetch(`${prometheus.url}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
    const theirs = await waitFor(() => heldUpTo(prometheus.url, {}, names, T, windowS), 60_000, 'Prometheus to count its samples', 500);
    // The engine shows a sample LATENCY_OFFSET_S after its time (-search.latencyOffset): counting starts after that.
    await sleep(Math.max(0, T + (LATENCY_OFFSET_S + 1) * 1000 - Date.now()));
    let ours = 0;
    let completeAt: number | undefined;
    let firstCount = true;
    const deadline = performance.now() + COMPLETE_S * 1000;
    while (performance.now() < deadline) {
      ours = (await heldUpTo(side.queryUrl, side.queryHeaders, names, T, windowS)) ?? ours;
      if (ours >= theirs) {
        completeAt = performance.now();
        break;
      }
      firstCount = false;
      await sleep(2000);
    }
    const m = await selfMetrics(prometheus.url);
    const completeAfterS = completeAt === undefined ? null : (completeAt - t0) / 1000;
    // Complete at the first count: the side kept up with the offer (within the latency offset), and took all of it.
    const keptUp = completeAt !== undefined && firstCount;
    const result: SideResult = {
      offeredPerS,
      keptUp,
      sustainedPerS: completeAfterS === null ? NaN : keptUp ? theirs / ((T - startedAt) / 1000) : theirs / completeAfterS,
      held: theirs,
      lost: Math.max(0, theirs - ours),
      extra: Math.max(0, ours - theirs),
      completeAfterS,
      failed: m.get(FAILED) ?? 0,
      retried: m.get(RETRIED) ?? 0,
      dropped: m.get(DROPPED) ?? 0,
    };
    console.log(
      `  ${isoTime(startedAt)} … T ${isoTime(T)}: offered ${fmt(offeredPerS)} samples/s; Prometheus holds ${fmt(theirs)} samples up to T; ` +
        (completeAfterS === null
          ? `the side held only ${fmt(ours)} after ${COMPLETE_S} s more (NOT complete)`
          : keptUp
            ? `all held at the first count, T + ${LATENCY_OFFSET_S + 1} s: it kept up → sustained ${fmt(result.sustainedPerS)} samples/s (Prometheus' held up to T over the run)`
            : `all held ${fmt(completeAfterS, 1)} s after the start (T + ${fmt((completeAt! - t0) / 1000 - (T - startedAt) / 1000, 1)} s) → sustained ${fmt(result.sustainedPerS)} samples/s`),
    );
    console.log(`  Prometheus' counters: failed ${fmt(result.failed)}, retried ${fmt(result.retried)}, dropped ${fmt(result.dropped)}; lost ${fmt(result.lost)}, extra ${fmt(result.extra)}`);
    return result;
  } catch (err) {
    console.error(prometheus.output().slice(-3000));
    throw err;
  } finally {
    await prometheus.stop();
  }
}

async function main(): Promise<void> {
  console.log(
    `remote_write bench: ${fmt(SERIES)} series over ${TARGETS} targets scraped every ${INTERVAL_S} s for ${SECONDS} s ` +
      `(${fmt(SERIES / INTERVAL_S)} samples/s offered) by Debian's Prometheus, ${SAMPLES_PER_SEND ? `max_samples_per_send ${SAMPLES_PER_SEND}` : 'default queue_config'}; one side at a time`,
  );
  const exporters = new Exporters();
  await exporters.start();
  let suite: RunningSuite | undefined;
  const engines: EngineProcess[] = [];
  try {
    const suiteEngine = await startEngineProcess();
    engines.push(suiteEngine);
    suite = await startSuite({ services: ['processor', 'storage', 'alert-manager'], env: { VM_URL: suiteEngine.url, LOG_LEVEL: 'warn' }, form: 'bundle' });
    const producer = await suite.apiKey('rw-bench-writer', 'producer');
    const viewer = await suite.apiKey('rw-bench-reader', 'viewer');
    const ours = await measure(
      {
        label: `(1) Prometheus → the suite (gateway ${suite.base}, namespace ${suite.ns.id}, engine ${suiteEngine.url}, fresh)`,
        remoteWrite: `  - url: ${suite.base}/api/v1/write\n    authorization: { type: Bearer, credentials: ${producer} }${QUEUE}`,
        queryUrl: suite.base,
        queryHeaders: { authorization: `Bearer ${viewer}` },
      },
      exporters,
    );
    await suite.stop();
    suite = undefined;
    await suiteEngine.cleanup();

    const engine = await startEngineProcess();
    engines.push(engine);
    const alone = await measure({ label: `(2) Prometheus → the engine alone (${engine.url}, fresh)`, remoteWrite: `  - url: ${engine.url}/api/v1/write${QUEUE}`, queryUrl: engine.url, queryHeaders: {} }, exporters);

    const ratio = ours.sustainedPerS / alone.sustainedPerS;
    console.log(`\nSummary (shipped defaults; Prometheus with ${SAMPLES_PER_SEND ? `max_samples_per_send ${SAMPLES_PER_SEND}` : 'its default queue_config'})`);
    console.log(`  offered                  ${fmt(ours.offeredPerS).padStart(9)} samples/s (suite's run), ${fmt(alone.offeredPerS)} (engine's)`);
    console.log(`  suite, sustained         ${fmt(ours.sustainedPerS).padStart(9)} samples/s; lost ${fmt(ours.lost)}, extra ${fmt(ours.extra)}; Prometheus retried ${fmt(ours.retried)}, dropped ${fmt(ours.dropped)}`);
    console.log(`  engine alone, sustained  ${fmt(alone.sustainedPerS).padStart(9)} samples/s; lost ${fmt(alone.lost)}, extra ${fmt(alone.extra)} → suite/engine ${fmt(ratio, 2)}`);
    if (alone.keptUp) console.log('  (the engine alone kept up with the offer: its figure is the offer, not its ceiling)');
    console.log(
      JSON.stringify({
        bench: 'remote_write',
        series: SERIES,
        interval_s: INTERVAL_S,
        samples_per_send: SAMPLES_PER_SEND ?? null,
        offered_per_s: roundTo(ours.offeredPerS),
        suite_per_s: roundTo(ours.sustainedPerS),
        engine_per_s: roundTo(alone.sustainedPerS),
        ratio_to_engine: roundTo(ratio, 3),
        suite_kept_up: ours.keptUp,
        engine_kept_up: alone.keptUp,
        lost: ours.lost,
        extra: ours.extra,
        engine_lost: alone.lost,
        retried: ours.retried,
        dropped: ours.dropped,
      }),
    );
  } finally {
    await suite?.stop().catch(() => undefined);
    await exporters.stop();
    await Promise.allSettled(engines.map((e) => e.cleanup()));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
