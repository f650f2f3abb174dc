import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

/** A Prometheus server of a test's or bench's own (Debian's `prometheus`), on a free port with its data in a temporary dir. */
export interface PrometheusProcess {
  readonly url: string;
  /** What it printed, for a failing test's message. */
  output(): string;
  /** Stops it and removes its data and configuration. */
  stop(): Promise<void>;
}

/**
 * Starts Prometheus with `config` (prometheus.yml's text) and waits until it is ready. `extraArgs` are added to
 * the command line (e.g. `--enable-feature=...`).
 */
export async function startPrometheus(config: string, extraArgs: readonly string[] = []): Promise<PrometheusProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'tmon-prometheus-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await writeFile(join(dir, 'prometheus.yml'), config);
  let output = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (err) => (output += `cannot start prometheus (apt-get install -y prometheus): ${err.message}\n`));
  const stop = async () => {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => ((await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ? true : undefined), 30_000, 'prometheus to be ready', 100);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return { url, output: () => output, stop };
}
