// Bundles each service with everything it imports into services/<name>/dist/main.js, so a container image
// needs only Node.js and that one file (no node_modules).
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
for (const name of readdirSync(join(root, 'services'))) {
  await build({
    entryPoints: [join(root, 'services', name, 'src', 'main.ts')],
    outfile: join(root, 'services', name, 'dist', 'main.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    // pg's optional native binding is never installed.
    external: ['pg-native'],
    // CommonJS dependencies call require() for Node built-ins; an ESM bundle needs one to give them.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  console.log(`built services/${name}/dist/main.js`);
}
