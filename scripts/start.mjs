// Starts the six services as one process each, with prefixed logs; Ctrl-C (SIGINT) stops them all gracefully.
import concurrently from 'concurrently';
import { tsImport } from 'tsx/esm/api';

// The gateway serves the dashboard at /, so its bundle is built from the current sources first.
const { buildDashboard } = await tsImport('../packages/dashboard/src/index.ts', import.meta.url);
await buildDashboard();

const SERVICES = ['storage', 'processor', 'alert-manager', 'backup', 'collector', 'api-gateway'];

// The sample rules on the collector's metrics, unless the operator points elsewhere.
process.env.ALERT_RULES_FILE ??= 'deploy/config/alert-rules.yaml';

const { result } = concurrently(
  SERVICES.map((name) => ({ name, command: `node --max-semi-space-size=32 --import tsx services/${name}/src/main.ts` })),
  { prefix: 'name', killOthersOn: ['failure'], killSignal: 'SIGTERM', restartTries: 0 },
);
result.then(
  () => process.exit(0),
  () => process.exit(1),
);
