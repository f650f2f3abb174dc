import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DASHBOARD_DIR, PACKAGE_DIR } from './dashboard-dir.ts';

const WEB_DIR = join(PACKAGE_DIR, 'web');

/** Bundles web/ with esbuild and copies the static files into {@link DASHBOARD_DIR} (or `outDir`); returns the directory. */
export async function buildDashboard(options: { outDir?: string; minify?: boolean } = {}): Promise<string> {
  // Imported here, not at the top, so a service that only serves the bundle does not load (or bundle) esbuild.
  const { build } = await import('esbuild');
  const outDir = options.outDir ?? DASHBOARD_DIR;
  // index.html goes first and comes back last, so a gateway never takes a half-written bundle for a complete one.
  await rm(join(outDir, 'index.html'), { force: true });
  await mkdir(outDir, { recursive: true });
  await build({
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
  await copyFile(join(WEB_DIR, 'index.html'), join(outDir, 'index.html'));
  return outDir;
}
