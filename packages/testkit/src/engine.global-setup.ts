import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_SERVERS } from './test-namespace.ts';
import { waitFor } from './wait-for.ts';

const answers = async (url: string) => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.ok === true;

/**
 * Vitest global setup (vitest.config.ts): the tests need a VictoriaMetrics at VM_URL (127.0.0.1:8428 by default),
 * as they need PostgreSQL, Redis and NATS. When none answers and VM_URL is unset, one is started from PATH for the
 * run (the machine's apt package), with a long retention because tests write samples of any age, and stopped after.
 */
export default async function setup(): Promise<(() => Promise<void>) | void> {
  if (await answers(TEST_SERVERS.vmUrl)) return;
  if (process.env.VM_URL) throw new Error(`no VictoriaMetrics answers at VM_URL=${process.env.VM_URL}`);
  const { hostname, port } = new URL(TEST_SERVERS.vmUrl);
  const dataDir = await mkdtemp(join(tmpdir(), 'tmon-test-vm-'));
  const child = spawn('victoria-metrics', [`-storageDataPath=${dataDir}`, `-httpListenAddr=${hostname}:${port}`, '-retentionPeriod=100y', '-dedup.minScrapeInterval=1ms', '-loggerLevel=ERROR'], { stdio: 'inherit' });
  child.once('error', (err) => process.stderr.write(`cannot start victoria-metrics (apt-get install -y victoria-metrics): ${err.message}\n`));
  await waitFor(async () => ((await answers(TEST_SERVERS.vmUrl)) ? true : undefined), 30_000, 'the test engine to answer', 100);
  // The backup tests read the engine's snapshots from its data dir; test files inherit this.
  process.env.VM_DATA_DIR = dataDir;
  return async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(dataDir, { recursive: true, force: true });
  };
}
