import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The dashboard package's own directory (sources in web/, bundle in dist/), when running from source. */
export const PACKAGE_DIR = join(HERE, '..');

/**
 * Directory of the built dashboard (index.html, app.js, styles), which the gateway serves at `/`. From source it is
 * packages/dashboard/dist; in a service bundle (services/api-gateway/dist/main.js) `pnpm build` copies it beside the
 * bundle as dist/dashboard, so the image carries it.
 */
export const DASHBOARD_DIR = existsSync(join(HERE, 'dashboard', 'index.html')) ? join(HERE, 'dashboard') : join(PACKAGE_DIR, 'dist');

/** Whether the bundle in `dir` is complete (the gateway answers 503 at `/` until it is). */
export function dashboardBuilt(dir: string = DASHBOARD_DIR): boolean {
  return existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'app.js'));
}
