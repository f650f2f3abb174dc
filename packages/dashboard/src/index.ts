export { DASHBOARD_DIR, dashboardBuilt } from './dashboard-dir.ts';
export { buildDashboard, dashboardCurrent } from './build-dashboard.ts';
/** Shapes of the gateway's answers as the dashboard reads them, for the gateway to check its own types against. */
export type {
  Sample as DashboardSample,
  Alert as DashboardAlert,
  AlertTransition as DashboardAlertTransition,
  AlertHistoryEvent as DashboardAlertHistoryEvent,
  Silence as DashboardSilence,
  BackupSummary as DashboardBackupSummary,
  CurrentValue as DashboardCurrentValue,
  HistoryPoint as DashboardHistoryPoint,
} from '../web/api-types.ts';
