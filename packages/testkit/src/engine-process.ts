import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineMaxLabels, loadConfig } from '@terminusa/config';
import { freePort } from './free-port.ts';
import { waitFor } from './wait-for.ts';

/** The engine's command name in /proc/<pid>/comm (`victoria-metrics`, cut to 15 characters), for `pidsByComm`. */
export const ENGINE_COMM = 'victoria-metric';

/** A VictoriaMetrics process of a test's own (to crash it), on a free port with its data in a temporary dir. */
export interface EngineProcess {
  readonly url: string;
  readonly dataDir: string;
  /** Starts it (again, on the same port and data, as a supervisor would) and waits until it answers. */
  start(): Promise<void>;
  /** Sends a signal and waits for the process to end. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Stops it and removes its data. */
  cleanup(): Promise<void>;
}

/**
 * Starts an engine process with the flags the suite ships (one sample per series and timestamp kept), on
 * `host`:`port` (default: a free port of 127.0.0.1), with a long retention: tests write samples of any age;
 * `flags` are added (a test's own limits). It answers when this resolves.
 */
export async function startEngineProcess(at: { host?: string; port?: number; flags?: readonly string[] } = {}): Promise<EngineProcess> {
  const host = at.host ?? '127.0.0.1';
  const port = at.port ?? (await freePort());
  const dataDir = await mkdtemp(join(tmpdir(), 'tmon-vm-'));
  const url = `http://${host}:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const engine: EngineProcess = {
    url,
    dataDir,
    async start() {
      child = spawn('victoria-metrics', [`-storageDataPath=${dataDir}`, `-httpListenAddr=${host}:${port}`, '-retentionPeriod=100y', '-dedup.minScrapeInterval=1ms', `-maxLabelsPerTimeseries=${engineMaxLabels(loadConfig({ env: {} }))}`, '-loggerLevel=ERROR', ...(at.flags ?? [])], { stdio: 'ignore' });
      const proc = child;
      exited = new Promise((resolve) => proc.once('exit', () => resolve()));
      proc.once('error', (err) => process.stderr.write(`cannot start victoria-metrics (apt-get install -y victoria-metrics): ${err.message}\n`));
      await waitFor(async () => ((await fetch(`${url}/health`).catch(() => undefined))?.ok ? true : undefined), 20_000, 'the engine to answer', 50);
    },
    async kill(signal) {
      child?.kill(signal);
      await exited;
    },
    async cleanup() {
      await engine.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  await engine.start();
  return engine;
}
