import type { HealthReport } from '@terminusa/bus';

/** Checks one dependency; throws (or rejects) when it is not usable. */
export type HealthCheck = () => Promise<void>;

const CHECK_TIMEOUT_MS = 2000;

/** The dependencies of one service instance and whether it is ready for work. */
export class Health {
  private readonly checks = new Map<string, HealthCheck>();
  /** Checks reported but not needed for readiness. */
  private readonly optional = new Set<string>();
  private ready = false;
  private stopping = false;

  constructor(
    private readonly service: string,
    private readonly instance: string,
  ) {}

  /**
   * Adds a dependency to every health report. One the instance can serve without (`required: false`) is reported, and
   * makes the status degraded when it fails, but leaves the instance ready.
   */
  add(name: string, check: HealthCheck, options: { required?: boolean } = {}): void {
    this.checks.set(name, check);
    if (options.required === false) this.optional.add(name);
    else this.optional.delete(name);
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
    const ready = this.ready && !this.stopping && entries.every(([name, c]) => c.ok || this.optional.has(name));
    return {
      service: this.service,
      instance: this.instance,
      status: ready && allOk ? 'ok' : this.ready && !this.stopping ? 'degraded' : 'down',
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
