import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { DASHBOARD_DIR, PACKAGE_DIR } from './dashboard-dir.ts';

const WEB_DIR = join(PACKAGE_DIR, 'web');
/** The files a bundle was built from, beside it; a dotfile, which the gateway's static files do not serve. */
const INPUTS_FILE = '.inputs.json';

/** Bundles web/ with esbuild and copies the static files into {@link DASHBOARD_DIR} (or `outDir`); returns the directory. */
export async function buildDashboard(options: { outDir?: string; minify?: boolean } = {}): Promise<string> {
  // Imported here, not at the top, so a service that only serves the bundle does not load (or bundle) esbuild.
  const { build } = await import('esbuild');
  const outDir = options.outDir ?? DASHBOARD_DIR;
  // index.html goes first and comes back last, so a gateway never takes a half-written bundle for a complete one.
  await rm(join(outDir, 'index.html'), { force: true });
  await mkdir(outDir, { recursive: true });
  const { metafile } = await build({
    metafile: true,
    entryPoints: [join(WEB_DIR, 'main.tsx')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify ?? true,
    sourcemap: true,
    logLevel: 'warning',
  });
  const uplotCss = join(dirname(createRequire(import.meta.url).resolve('uplot')), 'uPlot.min.css');
  await copyFile(uplotCss, join(outDir, 'uplot.css'));
  await copyFile(join(WEB_DIR, 'styles.css'), join(outDir, 'styles.css'));
  const inputs = [...Object.keys(metafile.inputs).map((input) => resolve(input)), uplotCss, join(WEB_DIR, 'styles.css'), join(WEB_DIR, 'index.html')];
  await writeFile(join(outDir, INPUTS_FILE), JSON.stringify(inputs));
  await copyFile(join(WEB_DIR, 'index.html'), join(outDir, 'index.html'));
  return outDir;
}

/**
 * Whether the bundle in `outDir` was built from the files as they are now: none changed since, none gone. `pnpm
 * start` builds only then, so it never takes away the page of a gateway already serving it (tests, a second start).
 */
export async function dashboardCurrent(outDir = DASHBOARD_DIR): Promise<boolean> {
  try {
    const built = (await stat(join(outDir, 'index.html'))).mtimeMs;
    const inputs = JSON.parse(await readFile(join(outDir, INPUTS_FILE), 'utf8')) as string[];
    const changed = await Promise.all(inputs.map(async (input) => (await stat(input)).mtimeMs > built));
    return !changed.includes(true);
  } catch {
    return false;
  }
}
