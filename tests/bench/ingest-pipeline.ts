/**
 * The ingest pipeline as the ingest and scale benches run it: processor and storage replicas started as
 * processes, a monitor of both durable consumers' backlogs and of the storage's stored-samples counters, and the
 * count of the load's samples in the engine (VictoriaMetrics).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumerInfo, JetStreamManager } from 'nats';
import { createPool } from '@terminusa/database';
import { readComputedWatermarks, selector, tagsOfLabels, type VictoriaMetrics } from '@terminusa/metric-store';
import { buildServiceBundles, freePort, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';
import { METRIC, SAMPLES_PER_MESSAGE } from './ingest-load.ts';

/** A started service replica and its ops port. */
export interface Replica {
  label: string;
  proc: ServiceProcess;
  opsPort: number;
}

/** One reading of the pipeline. */
export interface MonitorPoint {
  at: number;
  /** Sum of tmon_storage_samples_stored_total over the storage replicas. */
  stored: number;
  /** INGEST messages not yet acked by the processor (undelivered + in work). */
  ingest: number;
  /** SAMPLES messages not yet acked by the storage. */
  samples: number;
}

const backlogOf = (info: ConsumerInfo) => info.num_pending + info.num_ack_pending;

/** Reads both consumers' backlogs and the stored counters every `intervalMs`, for pacing, drain and rates. */
export class PipelineMonitor {
  readonly timeline: MonitorPoint[] = [];
  latest: MonitorPoint = { at: 0, stored: 0, ingest: 0, samples: 0 };
  private running = true;
  private readonly loop: Promise<void>;
  private errors = 0;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly ns: TestNamespace,
    private readonly storage: readonly Replica[],
    intervalMs = 100,
  ) {
    this.loop = (async () => {
      while (this.running) {
        const started = performance.now();
        try {
          this.record(await this.read());
        } catch (err) {
          if (this.errors++ < 3) console.log(`  monitor: ${String(err)}`);
        }
        await sleep(Math.max(0, intervalMs - (performance.now() - started)));
      }
    })();
  }

  /** Reads both consumers and the stored counters now. */
  async read(): Promise<MonitorPoint> {
    const [processor, storage, stored] = await Promise.all([
      this.jsm.consumers.info(`${this.ns.id}_INGEST`, 'processor'),
      this.jsm.consumers.info(`${this.ns.id}_SAMPLES`, 'storage'),
      Promise.all(this.storage.map((r) => storageCounter(r.opsPort))),
    ]);
    return { at: performance.now(), stored: stored.reduce((s, v) => s + v, 0), ingest: backlogOf(processor), samples: backlogOf(storage) };
  }

  private record(point: MonitorPoint): void {
    this.latest = point;
    this.timeline.push(point);
  }

  private sent = 0;

  /** Counts a message handed to the publisher. */
  published(): void {
    this.sent++;
  }

  /**
   * Messages handed to the publisher whose samples are not stored yet. Counted in samples rather than from the
   * consumers' pending counts, because a SAMPLES message carries a whole processor batch of ingest messages.
   */
  get backlog(): number {
    return this.sent - this.latest.stored / SAMPLES_PER_MESSAGE;
  }

  /** Waits until both consumers have nothing left and the stored counter stopped moving; returns the last reading. */
  async drained(timeoutMs: number): Promise<{ point: MonitorPoint; drained: boolean }> {
    let previous: MonitorPoint | undefined;
    try {
      const point = await waitFor(
        async () => {
          const now = await this.read();
          const done = now.ingest === 0 && now.samples === 0 && previous !== undefined && previous.stored === now.stored && previous.ingest === 0 && previous.samples === 0;
          previous = now;
          return done ? now : undefined;
        },
        timeoutMs,
        'the pipeline to drain',
        500,
      );
      return { point, drained: true };
    } catch {
      return { point: previous ?? (await this.read()), drained: false };
    }
  }

  /** The stored counter as of the last reading at or before `at`. */
  storedAt(at: number): number {
    let value = this.timeline[0]?.stored ?? 0;
    for (const p of this.timeline) {
      if (p.at > at) break;
      value = p.stored;
    }
    return value;
  }

  /** performance.now() of the first reading at which the stored counter had reached `value`. */
  reachedAt(value: number, after: number): number {
    return this.timeline.find((p) => p.at >= after && p.stored >= value)?.at ?? NaN;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/**
 * How far the 1m rollups are behind, read from the namespace's database every `intervalMs`: up to the 1m mark
 * history reads plan with (readComputedWatermarks: the oldest minute passed but not computed yet, else the 1m
 * watermark). Reads take what lies after it from the engine, which costs them more the further behind it is.
 */
export class RollupLag {
  private readonly pool;
  private running = true;
  private readonly loop: Promise<void>;
  /** Epoch ms up to which the 1m rollups were computed, as of the last reading. */
  computedUpTo = 0;
  /** Largest lag behind the clock seen while `track` was on (ms). */
  maxLagMs = 0;
  track = true;

  constructor(ns: TestNamespace, intervalMs = 5_000) {
    this.pool = createPool(ns.config.database, 'bench-rollup-lag');
    this.loop = (async () => {
      while (this.running) {
        try {
          await this.read();
        } catch {
          // The next reading tells.
        }
        await sleep(intervalMs);
      }
    })();
  }

  /** Reads the point the 1m rollups are computed up to. */
  async read(): Promise<number> {
    this.computedUpTo = (await readComputedWatermarks(this.pool))['1m'];
    if (this.track) this.maxLagMs = Math.max(this.maxLagMs, Date.now() - this.computedUpTo);
    return this.computedUpTo;
  }

  /** Waits until the 1m rollups are computed up to `epochMs`; resolves with when (Date.now()), or undefined on timeout. */
  async reached(epochMs: number, timeoutMs: number): Promise<number | undefined> {
    return waitFor(async () => ((await this.read()) >= epochMs ? Date.now() : undefined), timeoutMs, 'the 1m rollups to catch up', 1_000).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.pool.end();
  }
}

/** The counter `metric` (by default `tmon_storage_samples_stored_total`) of the storage replica on `opsPort`. */
export async function storageCounter(opsPort: number, metric = 'tmon_storage_samples_stored_total'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const m = new RegExp(`^${metric}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** The load's samples as the engine counts them. */
export interface Counted {
  /** Samples of the metric the engine holds (it keeps one per series and timestamp: each is a distinct (series, ts) pair). */
  rows: number;
  /** Distinct (series, ts) pairs among them (the same as rows: the engine deduplicates per millisecond). */
  pairs: number;
  /** Samples beyond what was published, summed per series (only with `expectedOf`; else 0). */
  doubled: number;
  /** Samples published but not held, summed per series (only with `expectedOf`; else 0). */
  lost: number;
  /** Series found. */
  series: number;
}

/**
 * Counts the samples of `name` in the engine per series, with `count_over_time` over [from, to] (epoch ms, both
 * inclusive) in the namespace (the client's extra_label). With `expectedOf` (samples published of a series, by its
 * tags), each series' count is compared with it: what is missing is lost, what is beyond it doubled.
 */
export async function countStored(
  engine: VictoriaMetrics,
  name = METRIC,
  from = Date.now() - 2 * 86_400_000,
  to = Date.now() + 600_000,
  expectedOf?: { each: (tags: Record<string, string>) => number; total: number },
): Promise<Counted> {
  const result = await engine.query(`count_over_time(${selector(name)}[${Math.max(1, to - from + 1)}ms])`, to);
  let rows = 0;
  let doubled = 0;
  let held = 0;
  for (const r of result) {
    rows += r.value;
    if (expectedOf) {
      const expected = expectedOf.each(tagsOfLabels(r.metric));
      doubled += Math.max(0, r.value - expected);
      held += Math.min(r.value, expected);
    }
  }
  return { rows, pairs: rows, doubled, lost: expectedOf ? Math.max(0, expectedOf.total - held) : 0, series: result.length };
}

/**
 * Starts `count` processor and `count` storage replicas in `ns` (and as many alert-managers with `alerting`), each
 * with its own ops port, and waits until each is ready. TMON_* settings of the bench's environment (core.batchSize,
 * core.workers, …) go to them too, then `options.env` (e.g. the engine of a phase of its own).
 */
export async function startIngestReplicas(ns: TestNamespace, count: number, into: Replica[] = [], options: { alerting?: boolean; env?: Record<string, string> } = {}): Promise<Replica[]> {
  return startReplicas(ns, ['processor', 'storage', ...(options.alerting ? ['alert-manager'] : [])], count, into, options.env);
}

/**
 * Starts `count` replicas of each service of `names` in `ns`, each with its own ops port, and waits until each is
 * ready. TMON_* settings of the bench's environment go to them, then `env` (a bench's own settings, e.g. its rules).
 * They run as the container image runs them: the bundles, built from the current sources at the first call.
 */
export async function startReplicas(ns: TestNamespace, names: readonly string[], count: number, into: Replica[] = [], env: Record<string, string> = {}): Promise<Replica[]> {
  buildServiceBundles();
  const passthrough = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('TMON_') && e[1] !== undefined));
  const started: Replica[] = [];
  for (const name of names) {
    for (let i = 1; i <= count; i++) {
      const opsPort = await freePort();
      // Shipped defaults (the cardinality guard included); only TMON_* settings of the bench's environment change them.
      const replicaEnv = { ...ns.env, LOG_LEVEL: 'warn', OPS_PORT: String(opsPort), TMON_OPS__HOST: '127.0.0.1', ...passthrough, ...env };
      const replica = { label: count > 1 ? `${name}#${i}` : name, proc: startServiceProcess(name, replicaEnv, 'bundle'), opsPort };
      started.push(replica);
      // Added at once, so a failure below still stops every process started so far.
      into.push(replica);
    }
  }
  for (const r of started) {
    await waitFor(
      async () => {
        if (r.proc.child.exitCode !== null) throw new Error(`${r.label} exited with ${r.proc.child.exitCode}`);
        const res = await fetch(`http://127.0.0.1:${r.opsPort}/health/ready`);
        return res.status === 200 ? true : undefined;
      },
      90_000,
      `${r.label} ready`,
      200,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- ${r.label} output ---\n${r.proc.output()}`);
    });
  }
  return started;
}
