import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

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

/** The Node flags every deployment of a service runs with (deploy/Dockerfile, scripts/start.mjs). */
const NODE_FLAGS = ['--max-semi-space-size=32'];

/** Starts `services/<name>/src/main.ts` with the given environment; with PROF_DIR set, each writes a CPU profile there. */
export function startServiceProcess(name: string, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [...(process.env.PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROF_DIR}/${name}`] : []), ...NODE_FLAGS, '--import', 'tsx', join(ROOT, 'services', name, 'src', 'main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { name, child, output: () => output, exited, kill: (signal) => void child.kill(signal) };
}
