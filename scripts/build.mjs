// Bundles each service with everything it imports into services/<name>/dist/main.js, so a container image
// needs only Node.js and that one file (no node_modules), plus the web dashboard the gateway serves.
import { build } from 'esbuild';
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tsImport } from 'tsx/esm/api';

const root = new URL('..', import.meta.url).pathname;
const { buildDashboard } = await tsImport('../packages/dashboard/src/index.ts', import.meta.url);
const dashboardDir = await buildDashboard();
console.log('built packages/dashboard/dist');
const bundle = (entry, outfile) =>
  build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    // pg's optional native binding is never installed.
    // esbuild builds the dashboard, which a service bundle never does.
    external: ['pg-native', 'esbuild'],
    // Native addons (snappy, argon2) are copied beside the bundle, which requires them by that relative path.
    loader: { '.node': 'copy' },
    // CommonJS dependencies call require() for Node built-ins; an ESM bundle needs one to give them.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
for (const name of readdirSync(join(root, 'services'))) {
  await bundle(join(root, 'services', name, 'src', 'main.ts'), join(root, 'services', name, 'dist', 'main.js'));
  console.log(`built services/${name}/dist/main.js`);
}
// The NATS bootstrap (streams and durable consumers, as the `bootstrap` user): the image runs it as
// `node tools/nats-bootstrap.mjs` (the compose service and the Kubernetes Job nats-bootstrap).
await bundle(join(root, 'packages', 'runtime', 'src', 'nats-bootstrap-main.ts'), join(root, 'dist', 'tools', 'nats-bootstrap.mjs'));
console.log('built dist/tools/nats-bootstrap.mjs');
// The gateway's bundle finds the dashboard beside it (see DASHBOARD_DIR), so an image that copies dist/ serves it.
cpSync(dashboardDir, join(root, 'services', 'api-gateway', 'dist', 'dashboard'), { recursive: true });
console.log('copied the dashboard to services/api-gateway/dist/dashboard');
