export { DASHBOARD_DIR, dashboardBuilt } from './dashboard-dir.ts';
export { buildDashboard } from './build-dashboard.ts';
