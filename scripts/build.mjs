// Bundles each service with everything it imports into services/<name>/dist/main.js, so a container image
// needs only Node.js and that one file (no node_modules), plus the web dashboard the gateway serves.
import { build } from 'esbuild';
import { cpSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
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
// A service reads its Lua scripts at startup from beside the module that runs them (new URL('./x.lua', import.meta.url)).
// In the bundle every module's URL is main.js's, so the scripts are copied beside it; two with one name would collide.
const copyLuaScripts = (service) => {
  const src = join(root, 'services', service, 'src');
  const copied = new Map();
  for (const file of readdirSync(src, { recursive: true }).filter((f) => f.endsWith('.lua'))) {
    const name = basename(file);
    if (copied.has(name)) throw new Error(`services/${service}/src: ${copied.get(name)} and ${file} would both be dist/${name}; rename one`);
    copied.set(name, file);
    cpSync(join(src, file), join(root, 'services', service, 'dist', name));
  }
  return copied.size;
};
for (const name of readdirSync(join(root, 'services'))) {
  await bundle(join(root, 'services', name, 'src', 'main.ts'), join(root, 'services', name, 'dist', 'main.js'));
  const scripts = copyLuaScripts(name);
  console.log(`built services/${name}/dist/main.js${scripts ? ` with ${scripts} Lua scripts` : ''}`);
}
// The NATS bootstrap (streams and durable consumers, as the `bootstrap` user): the image runs it as
// `node tools/nats-bootstrap.mjs` (the compose service and the Kubernetes Job nats-bootstrap).
await bundle(join(root, 'packages', 'runtime', 'src', 'nats-bootstrap-main.ts'), join(root, 'dist', 'tools', 'nats-bootstrap.mjs'));
console.log('built dist/tools/nats-bootstrap.mjs');
// The migrations, as the owner role: the image runs them as `node tools/db-migrate.mjs` (the compose service and the
// Kubernetes Job db-migrate); no service logs in as the owner.
await bundle(join(root, 'packages', 'runtime', 'src', 'db-migrate-main.ts'), join(root, 'dist', 'tools', 'db-migrate.mjs'));
console.log('built dist/tools/db-migrate.mjs');
// The gateway's bundle finds the dashboard beside it (see DASHBOARD_DIR), so an image that copies dist/ serves it.
cpSync(dashboardDir, join(root, 'services', 'api-gateway', 'dist', 'dashboard'), { recursive: true });
console.log('copied the dashboard to services/api-gateway/dist/dashboard');
