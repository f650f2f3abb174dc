/**
 * Which PostgreSQL backends serve which of our processes, and what the storage's backends are doing — so the
 * bench can tell PostgreSQL work done for the storage apart from the rest of the server's load.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/** Local TCP ports of the sockets process `pid` holds that are connected to remote port `remotePort`. */
function localPortsTo(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        // The descriptor was closed while we looked.
      }
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      const local = parseInt(cols[1]!.split(':')[1]!, 16);
      const remote = parseInt(cols[2]!.split(':')[1]!, 16);
      if (remote === remotePort) ports.push(local);
    }
  }
  return ports;
}

/** The backends serving each owner process, refreshed every second (pools open and close connections). */
export class PgBackends {
  private readonly byOwner = new Map<string, number[]>();
  /** application_name and client of every backend of the server, as of the last refresh. */
  private readonly clients = new Map<number, string>();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly db: pg.Client,
    private readonly owners: readonly { label: string; pid: number }[],
    private readonly pgPort = 5432,
  ) {
    this.loop = (async () => {
      while (this.running) {
        await this.refresh().catch(() => undefined);
        await sleep(1000);
      }
    })();
  }

  async refresh(): Promise<void> {
    const portsOf = this.owners.map((o) => ({ label: o.label, ports: localPortsTo(o.pid, this.pgPort) }));
    const { rows } = await this.db.query<{ pid: number; client_port: number }>('SELECT pid, client_port FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [
      portsOf.flatMap((o) => o.ports),
    ]);
    const backend = new Map(rows.map((r) => [r.client_port, r.pid]));
    const all = await this.db.query<{ pid: number; app: string | null; db: string | null; backend_type: string }>(
      'SELECT pid, application_name AS app, datname AS db, backend_type FROM pg_stat_activity',
    );
    for (const r of all.rows) this.clients.set(r.pid, `postgres ${r.backend_type}${r.app ? ` for "${r.app}"` : ''}${r.db ? ` (${r.db})` : ''}`);
    for (const o of portsOf) this.byOwner.set(o.label, o.ports.map((p) => backend.get(p)).filter((p): p is number => p !== undefined));
  }

  /** Backend pids of one owner, as of the last refresh. */
  of(label: string): number[] {
    return this.byOwner.get(label) ?? [];
  }

  /** What a PostgreSQL process serves, for naming it in a report (undefined: not a backend we know of). */
  describe(pid: number): string | undefined {
    return this.clients.get(pid);
  }

  /** Backend pids of every owner. */
  all(): number[] {
    return [...this.byOwner.values()].flat();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** What a storage backend was doing at one sample. */
function classify(state: string | null, query: string | null): string {
  if (state === 'idle') return 'idle in the pool';
  if (state === 'idle in transaction') return 'in transaction, waiting for the storage process';
  const q = (query ?? '').trimStart();
  if (q.startsWith('COPY sample_blocks')) return 'COPY sample_blocks';
  if (q.startsWith('COPY rollup_pending')) return 'COPY rollup_pending';
  if (q.startsWith('INSERT INTO ingested_messages')) return 'INSERT ingested_messages (idempotency)';
  if (q.startsWith('INSERT INTO series')) return 'INSERT series';
  if (/^COMMIT/i.test(q)) return 'COMMIT';
  if (/^BEGIN/i.test(q)) return 'BEGIN';
  if (q.startsWith('WITH moved') || q.startsWith('SELECT min(ts) AS min, max(ts) AS max FROM rollup_pending')) return 'rollup fold (every 5 s)';
  if (q.startsWith('CREATE TABLE IF NOT EXISTS')) return 'partition ensure';
  return `other: ${q.slice(0, 40).replace(/\s+/g, ' ')}`;
}

/**
 * Samples pg_stat_activity of the storage's backends every `intervalMs`; reports, per activity, the backend
 * time it took as a share of the wall time (100 % = one backend busy with it all the time).
 */
export class PgActivitySampler {
  private readonly counts = new Map<string, number>();
  private readonly waits = new Map<string, number>();
  private samples = 0;
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly db: pg.Client,
    private readonly backends: () => number[],
    intervalMs = 100,
  ) {
    this.loop = (async () => {
      while (this.running) {
        const started = performance.now();
        await this.sample().catch(() => undefined);
        await sleep(Math.max(1, intervalMs - (performance.now() - started)));
      }
    })();
  }

  private async sample(): Promise<void> {
    const pids = this.backends();
    const { rows } = await this.db.query<{ state: string | null; query: string | null; wait: string | null }>(
      `SELECT state, left(query, 80) AS query, wait_event_type || ':' || wait_event AS wait FROM pg_stat_activity WHERE pid = ANY($1::int[])`,
      [pids],
    );
    this.samples++;
    for (const r of rows) {
      const what = classify(r.state, r.query);
      this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
      if (r.state === 'active' && r.wait) this.waits.set(r.wait, (this.waits.get(r.wait) ?? 0) + 1);
    }
  }

  async stop(): Promise<{ activity: { what: string; percent: number }[]; waits: { what: string; percent: number }[] }> {
    this.running = false;
    await this.loop;
    const pct = (m: Map<string, number>) =>
      [...m].map(([what, n]) => ({ what, percent: (100 * n) / Math.max(1, this.samples) })).sort((a, b) => b.percent - a.percent);
    return { activity: pct(this.counts), waits: pct(this.waits) };
  }
}
