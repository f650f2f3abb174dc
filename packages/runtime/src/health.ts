import type { HealthReport } from '@terminusa/bus';

/** Checks one dependency; throws (or rejects) when it is not usable. */
export type HealthCheck = () => Promise<void>;

const CHECK_TIMEOUT_MS = 2000;

/** The dependencies of one service instance and whether it is ready for work. */
export class Health {
  private readonly checks = new Map<string, HealthCheck>();
  private ready = false;
  private stopping = false;

  constructor(
    private readonly service: string,
    private readonly instance: string,
  ) {}

  /** Adds a dependency to every health report. */
  add(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  /** Marks the instance ready (after start) or not ready (while it shuts down). */
  setReady(ready: boolean): void {
    this.ready = ready;
    if (!ready) this.stopping = true;
  }

  /** Runs every check in parallel, each bounded by a timeout. */
  async report(): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const started = performance.now();
        try {
          await withTimeout(check(), CHECK_TIMEOUT_MS);
          return [name, { ok: true, latencyMs: round(performance.now() - started) }] as const;
        } catch (err) {
          return [name, { ok: false, latencyMs: round(performance.now() - started), error: (err as Error).message }] as const;
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    const allOk = entries.every(([, c]) => c.ok);
    const ready = this.ready && !this.stopping && allOk;
    return {
      service: this.service,
      instance: this.instance,
      status: ready ? 'ok' : this.ready && !this.stopping ? 'degraded' : 'down',
      live: true,
      ready,
      checks,
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
