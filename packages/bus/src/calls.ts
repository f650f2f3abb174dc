import { z } from 'zod';
import { storableText } from './schemas.ts';

/** A request/reply call to a service: its subject and the schemas of request and reply. */
export interface CallDef<Req extends z.ZodType, Rep extends z.ZodType> {
  /** Subject relative to the namespace prefix; replicas answer in a queue group, so one of them does. */
  readonly subject: string;
  readonly request: Req;
  readonly reply: Rep;
}

function call<Req extends z.ZodType, Rep extends z.ZodType>(def: CallDef<Req, Rep>): CallDef<Req, Rep> {
  return def;
}

/** The reply of a call that failed on the serving side. */
export const CallErrorSchema = z.strictObject({ error: z.string(), code: z.string().optional() });

const BackupKind = z.enum(['full', 'incremental']);

/** One backup as listed. */
export const BackupSummarySchema = z.strictObject({
  id: z.string(),
  kind: BackupKind,
  createdAt: z.string(),
  previous: z.string().nullable(),
  keyId: z.string(),
  tables: z.number().int(),
  rows: z.number().int(),
  bytes: z.number().int(),
  files: z.number().int(),
  /** Why the backup cannot be trusted, when its manifest does not verify. */
  damaged: z.string().optional(),
});
/** A listed backup. */
export type BackupSummary = z.infer<typeof BackupSummarySchema>;

/** The tiers of the metric history, finest first, as archives name them. */
export const ARCHIVE_TIERS = ['raw', '1m', '5m', '1h', '1d'] as const;

/** One archived range of one tier: a gzip file of COPY text rows under `<DATA_DIR>/archive`. */
export const ArchiveEntrySchema = z.strictObject({
  tier: z.enum(ARCHIVE_TIERS),
  file: z.string(),
  from: z.number(),
  to: z.number(),
  rows: z.number().int(),
  bytes: z.number().int(),
  archivedAt: z.string(),
});
/** An archived range. */
export type ArchiveEntry = z.infer<typeof ArchiveEntrySchema>;

/** Every request/reply call of the suite. */
export const CALLS = {
  /** Acknowledge an active alert: its re-notification stops. */
  alertAck: call({
    subject: 'alerts.command.ack',
    request: z.strictObject({ id: z.string().uuid('an alert id'), by: z.string().min(1), comment: storableText(2000, 'comments').optional() }),
    reply: z.union([z.strictObject({ ok: z.literal(true), state: z.string() }), CallErrorSchema]),
  }),
  /** Queue a backup now; replies with the job id. */
  backupRun: call({
    subject: 'backup.command.run',
    request: z.strictObject({ kind: BackupKind, includeArchives: z.boolean().default(false), requestedBy: z.string().optional() }),
    reply: z.union([z.strictObject({ jobId: z.string() }), CallErrorSchema]),
  }),
  /** The complete backups, and the archive files beside them. */
  backupList: call({
    subject: 'backup.command.list',
    request: z.strictObject({}),
    reply: z.union([z.strictObject({ backups: z.array(BackupSummarySchema), archives: z.array(z.strictObject({ path: z.string(), bytes: z.number().int() })) }), CallErrorSchema]),
  }),
  /** Queue a restore of a backup (its chain verified first) into the live database or another one on the same server. */
  backupRestore: call({
    subject: 'backup.command.restore',
    request: z.strictObject({
      id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'a backup id'),
      /** Another database on the same server, e.g. for a restore drill; absent: the live database. */
      intoDatabase: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a database name').optional(),
      requestedBy: z.string().optional(),
    }),
    reply: z.union([z.strictObject({ jobId: z.string() }), CallErrorSchema]),
  }),
  /** The state of a backup or restore job, with its progress. */
  backupJob: call({
    subject: 'backup.command.job',
    request: z.strictObject({ jobId: z.string().regex(/^[A-Za-z0-9_:-]{1,100}$/, 'a job id') }),
    reply: z.union([
      z.strictObject({ jobId: z.string(), name: z.string(), state: z.string(), progress: z.unknown(), result: z.unknown(), failedReason: z.string().optional() }),
      CallErrorSchema,
    ]),
  }),
  /** Verify one backup completely (signature, checksums, GCM tags, row counts) without restoring it. */
  backupVerify: call({
    subject: 'backup.command.verify',
    request: z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'a backup id') }),
    reply: z.union([z.strictObject({ ok: z.literal(true), chunks: z.number().int(), rows: z.number().int(), bytes: z.number().int() }), CallErrorSchema]),
  }),
  /** The ranges retention moved to the archive, per tier. */
  archiveList: call({
    subject: 'storage.command.archive-list',
    request: z.strictObject({}),
    reply: z.union([z.strictObject({ archives: z.array(ArchiveEntrySchema) }), CallErrorSchema]),
  }),
  /** Load the archived rows of a tier overlapping [from, to) back into its table; rows already present are skipped. */
  archiveLoad: call({
    subject: 'storage.command.archive-load',
    request: z
      .strictObject({ tier: z.enum(ARCHIVE_TIERS), from: z.number().int().nonnegative(), to: z.number().int().positive(), requestedBy: z.string().optional() })
      .refine((r) => r.from < r.to, { message: 'from must be before to', path: ['from'] }),
    reply: z.union([z.strictObject({ rows: z.number().int(), files: z.number().int() }), CallErrorSchema]),
  }),
} as const;
