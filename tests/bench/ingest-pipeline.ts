/**
 * The ingest pipeline as the ingest and scale benches run it: processor and storage replicas started as
 * processes, a monitor of both durable consumers' backlogs and of the storage's stored-samples counters, and the
 * exact count of the load's samples in PostgreSQL.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsumerInfo, JetStreamManager } from 'nats';
import type pg from 'pg';
import { freePort, startServiceProcess, waitFor, type ServiceProcess, type TestNamespace } from '@terminusa/testkit';
import { METRIC, SAMPLES_PER_MESSAGE } from './ingest-load.ts';

const STOP_GRACE_MS = 10_000;

/** A started service replica and its ops port. */
export interface Replica {
  label: string;
  proc: ServiceProcess;
  opsPort: number;
}

/** SIGTERM, then SIGKILL if it has not ended after 10 s. */
export async function stopProcess(p: ServiceProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.kill('SIGTERM');
  const ended = await Promise.race([p.exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
  if (!ended) {
    console.log(`  ${p.name} (pid ${p.child.pid}) did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM; SIGKILL`);
    p.kill('SIGKILL');
    await p.exited;
  }
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

/** The counter `metric` (by default `tmon_storage_samples_stored_total`) of the storage replica on `opsPort`. */
export async function storageCounter(opsPort: number, metric = 'tmon_storage_samples_stored_total'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  const m = new RegExp(`^${metric}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** The load's samples in PostgreSQL. */
export interface Counted {
  /** Rows of bench_ingest in samples. */
  rows: number;
  /** Distinct (series_id, ts) pairs among them. */
  pairs: number;
  /** Pairs stored more than once. */
  doubled: number;
}

/** Counts the load's rows, distinct (series, ts) pairs and pairs stored twice, in the namespace's schema. */
export async function countStored(db: pg.Client): Promise<Counted> {
  const { rows } = await db.query<{ rows: string; pairs: string; doubled: string }>(
    `SELECT coalesce(sum(c), 0)::bigint AS rows, count(*)::bigint AS pairs, count(*) FILTER (WHERE c > 1)::bigint AS doubled
       FROM (SELECT count(*) AS c FROM samples s JOIN series se ON se.id = s.series_id WHERE se.name = $1 GROUP BY s.series_id, s.ts) g`,
    [METRIC],
  );
  return { rows: Number(rows[0]!.rows), pairs: Number(rows[0]!.pairs), doubled: Number(rows[0]!.doubled) };
}

/**
 * Starts `count` processor and `count` storage replicas in `ns`, each with its own ops port, and waits until
 * each is ready. TMON_* settings of the bench's environment (core.batchSize, core.workers, …) go to them too.
 */
export async function startIngestReplicas(ns: TestNamespace, count: number, into: Replica[] = [], options: { alerting?: boolean } = {}): Promise<Replica[]> {
  const passthrough = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('TMON_') && e[1] !== undefined));
  const started: Replica[] = [];
  for (const name of ['processor', 'storage', ...(options.alerting ? ['alert-manager'] : [])]) {
    for (let i = 1; i <= count; i++) {
      const opsPort = await freePort();
      const env = { ...ns.env, ...passthrough, LOG_LEVEL: 'warn', OPS_PORT: String(opsPort), TMON_OPS__HOST: '127.0.0.1', TMON_INGEST__MAX_SERIES_PER_METRIC: '20000' };
      const replica = { label: count > 1 ? `${name}#${i}` : name, proc: startServiceProcess(name, env), opsPort };
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
