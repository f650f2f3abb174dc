import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '@terminusa/config';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A service running as a real child process, as `pnpm start` runs it. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process ended. */
  readonly exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * How a service runs: from its TypeScript sources through tsx, as `pnpm start` and the tests run it, or as the
 * bundle the container image runs (`services/<name>/dist/main.js`, made by {@link buildServiceBundles}).
 */
export type ServiceForm = 'sources' | 'bundle';

/** Starts the service `name` with the given environment; with PROF_DIR set, each writes a CPU profile there. */
export function startServiceProcess(name: string, env: Record<string, string>, form: ServiceForm = 'sources'): ServiceProcess {
  const entry = form === 'bundle' ? [join(ROOT, 'services', name, 'dist', 'main.js')] : ['--import', 'tsx', join(ROOT, 'services', name, 'src', 'main.ts')];
  const child = spawn(process.execPath, [...(process.env.PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF_DIR}/${name}`] : []), ...SERVICE_NODE_FLAGS, ...entry], {
    cwd: ROOT,
    // The image sets NODE_ENV=production (libraries such as express skip their development checks under it).
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...(form === 'bundle' ? { NODE_ENV: 'production' } : {}), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { name, child, output: () => output, exited, kill: (signal) => void child.kill(signal) };
}

let built = false;

/** Bundles every service from the current sources (`pnpm build`), once per process: a bench measures what ships, never a stale bundle. */
export function buildServiceBundles(): void {
  if (built) return;
  const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`pnpm build failed (${run.status ?? run.signal}):\n${run.stdout}${run.stderr}`);
  built = true;
}
