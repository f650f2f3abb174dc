import { buildDashboard } from './build-dashboard.ts';

/** Vitest global setup (vitest.config.ts): bundles the dashboard before any test file starts a gateway that serves it. */
export default async function setup(): Promise<void> {
  await buildDashboard();
}
