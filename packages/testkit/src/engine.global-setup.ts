import { startEngineProcess } from './engine-process.ts';
import { healthAnswers } from './health-answers.ts';
import { TEST_SERVERS } from './test-namespace.ts';

/**
 * Vitest global setup (vitest.config.ts): the tests need a VictoriaMetrics at VM_URL (127.0.0.1:8428 by default),
 * as they need PostgreSQL, Redis and NATS. When none answers and VM_URL is unset, one is started from PATH for the
 * run (the machine's apt package) and stopped after.
 */
export default async function setup(): Promise<(() => Promise<void>) | void> {
  if (await healthAnswers(TEST_SERVERS.vmUrl)) return;
  if (process.env.VM_URL) throw new Error(`no VictoriaMetrics answers at VM_URL=${process.env.VM_URL}`);
  const { hostname, port } = new URL(TEST_SERVERS.vmUrl);
  const engine = await startEngineProcess({ host: hostname, port: Number(port) });
  // The backup tests read the engine's snapshots from its data dir; test files inherit this.
  process.env.VM_DATA_DIR = engine.dataDir;
  return () => engine.cleanup();
}
