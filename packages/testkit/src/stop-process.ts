import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceProcess } from './service-process.ts';

/** Ends a service process: SIGTERM, then SIGKILL if it has not ended after `graceMs` (its shutdown is given that long). */
export async function stopProcess(p: ServiceProcess, graceMs = 10_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.kill('SIGTERM');
  const ended = await Promise.race([p.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!ended) {
    console.log(`  ${p.name} (pid ${p.child.pid}) did not stop within ${graceMs / 1000} s of SIGTERM; SIGKILL`);
    p.kill('SIGKILL');
    await p.exited;
  }
}
