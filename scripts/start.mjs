// Starts the six services as one process each, with prefixed logs; Ctrl-C (SIGINT) stops them all gracefully.
// Raw samples live in VictoriaMetrics: VM_URL (or the config file) points at one; when none is set and nothing
// answers on the default port, the embedded default is started from PATH with its data under DATA_DIR.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import concurrently from 'concurrently';
import { tsImport } from 'tsx/esm/api';

// The gateway serves the dashboard at /, so its bundle is built from the current sources first (when they changed).
const { buildDashboard, dashboardCurrent } = await tsImport('../packages/dashboard/src/index.ts', import.meta.url);
if (!(await dashboardCurrent())) await buildDashboard();
const { loadConfigOrExit, engineMaxLabels, engineRetentionDays, SERVICE_NAMES, SERVICE_NODE_FLAGS } = await tsImport('../packages/config/src/index.ts', import.meta.url);
const config = loadConfigOrExit({}, 'start');

// The sample rules on the collector's metrics, unless the operator points elsewhere.
process.env.ALERT_RULES_FILE ??= 'deploy/config/alert-rules.yaml';

const answers = async (url) => {
  try {
    return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
};

const commands = [];
const engineUrl = new URL(config.storage.engine.url);
const embedded = !process.env.VM_URL && !(await answers(config.storage.engine.url));
const dataPath = resolve(join(config.dataDir, 'victoria-metrics'));
if (embedded) {
  mkdirSync(dataPath, { recursive: true });
  // History past raw retention reads the rollups; the engine keeps a day more than it (engineRetentionDays).
  const days = engineRetentionDays(config);
  // Credentials the configuration gives the services (storage.engine.password, snapshotKey) the engine asks for,
  // handed over in its environment (-envflag.*), not on its command line.
  const { username, password, snapshotKey } = config.storage.engine;
  const credentials = { ...(password ? { VM_httpAuth_username: username, VM_httpAuth_password: password } : {}), ...(snapshotKey ? { VM_snapshotAuthKey: snapshotKey } : {}) };
  const envFlags = Object.keys(credentials).length ? ' -envflag.enable -envflag.prefix=VM_' : '';
  commands.push({
    name: 'victoria-metrics',
    command: `victoria-metrics -storageDataPath=${dataPath} -httpListenAddr=${engineUrl.hostname}:${engineUrl.port || 8428} -retentionPeriod=${days}d -dedup.minScrapeInterval=1ms -maxLabelsPerTimeseries=${engineMaxLabels(config)} -loggerLevel=WARN${envFlags}`,
    env: credentials,
  });
}
// With an embedded engine, the services start once it answers.
const waitForEngine = embedded ? `node scripts/wait-for-url.mjs ${config.storage.engine.url}/health && ` : '';

/**
 * The data directory of an engine already answering on this machine (one an earlier `pnpm start` left running when
 * it was killed, or one started by hand), from its flags, when this user can read its snapshots there.
 */
const localDataPath = async (url) => {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname)) return undefined;
  try {
    const flags = await (await fetch(`${url}/flags`, { signal: AbortSignal.timeout(1000) })).text();
    const path = /^-storageDataPath="(.+)"$/m.exec(flags)?.[1];
    if (!path) return undefined;
    accessSync(join(path, 'snapshots'), constants.R_OK | constants.X_OK);
    return resolve(path);
  } catch {
    return undefined;
  }
};

// An engine's files on this machine go into every backup unless the operator said otherwise.
const backupDataPath = config.backup.engineDataDir ? undefined : embedded ? dataPath : await localDataPath(config.storage.engine.url);
const backupEnv = backupDataPath ? { TMON_BACKUP__ENGINE_DATA_DIR: backupDataPath } : {};
if (!embedded) {
  console.log(`start: using the engine at ${config.storage.engine.url} (not started here: Ctrl-C leaves it running)${backupDataPath ? `; backups hold its data in ${backupDataPath}` : ''}`);
}
commands.push(
  ...SERVICE_NAMES.map((name) => ({
    name,
    command: `${waitForEngine}node ${SERVICE_NODE_FLAGS.join(' ')} --import tsx services/${name}/src/main.ts`,
    ...(name === 'backup' ? { env: backupEnv } : {}),
  })),
);

const { result } = concurrently(commands, { prefix: 'name', killOthersOn: ['failure'], killSignal: 'SIGTERM', restartTries: 0 });
result.then(
  () => process.exit(0),
  () => process.exit(1),
);
