/**
 * The dashboard restates the shapes of the gateway's answers (packages/dashboard/web/api-types.ts), because its
 * browser build cannot type-check the services' Node sources. Here each shape the gateway answers with is checked
 * against what the dashboard reads: `pnpm typecheck` fails when an answer no longer gives the dashboard a field it
 * reads, or gives it in another type. Nothing imports this module; the compiler is its only reader.
 */
import type { Alert, AlertHistoryEvent, Silence } from '@terminusa/alerting';
import type { AlertTransition, BackupSummary, Sample } from '@terminusa/bus';
import type {
  DashboardAlert,
  DashboardAlertHistoryEvent,
  DashboardAlertTransition,
  DashboardBackupSummary,
  DashboardCurrentValue,
  DashboardHistoryPoint,
  DashboardSample,
  DashboardSilence,
} from '@terminusa/dashboard';
import type { CurrentValue, HistoryPoint } from '@terminusa/metric-store';

/** Compiles only when every value of `Answer` is a value the dashboard accepts as `Read`. */
type Gives<Answer extends Read, Read> = [Answer, Read];

/** The answers, each beside what the dashboard reads of it. */
export type DashboardContract = [
  Gives<Sample, DashboardSample>,
  Gives<Alert, DashboardAlert>,
  Gives<AlertTransition, DashboardAlertTransition>,
  Gives<AlertHistoryEvent, DashboardAlertHistoryEvent>,
  Gives<Silence, DashboardSilence>,
  Gives<BackupSummary, DashboardBackupSummary>,
  Gives<CurrentValue, DashboardCurrentValue>,
  Gives<HistoryPoint, DashboardHistoryPoint>,
];
