/**
 * The log of deleted rows (migration 13): an incremental backup copies the rows written since its base, so a delete
 * would leave nothing in it; the log's rows carry it instead, and a restore replays them.
 */
export const ROW_DELETIONS_TABLE = 'row_deletions';

/** The tables whose deletes are logged, each by a trigger naming its primary-key columns. */
export const DELETION_LOGGED_TABLES: readonly string[] = ['alert_rules'];

/** Set (SET LOCAL … = 'on') by a restore while it replays the log, so its own deletes are not logged again. */
export const RESTORING_SETTING = 'terminusa.restoring';
