import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceProcess } from './service-process.ts';

/**
 * Ends a service process: SIGTERM, then SIGKILL if it has not ended after `graceMs`: a little longer than the
 * services' own `shutdownTimeout` (10 s), after which they exit by themselves.
 */
export async function stopProcess(p: ServiceProcess, graceMs = 12_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.kill('SIGTERM');
  const ended = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!ended) {
    // Its last lines say what it was still doing.
    const last = p.output().trimEnd().split('\n').slice(-5).join('\n    ');
    console.log(`  ${p.name} (pid ${p.child.pid}) did not stop within ${graceMs / 1000} s of SIGTERM; SIGKILL. Its last lines:\n    ${last}`);
    p.kill('SIGKILL');
    await p.exited;
  }
}
