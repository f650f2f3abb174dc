import { z } from 'zod';
import { ARCHIVE_TIERS, CALLS } from '@terminusa/bus';
import type { ServiceCaller } from '../http/call-service.ts';
import { route, type RouteSpec } from '../http/route.ts';
import { BodyTime } from './metrics-routes.ts';

const BackupId = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'a backup id') });

const ArchiveLoadBody = z
  .strictObject({ tier: z.enum(ARCHIVE_TIERS), from: BodyTime, to: BodyTime })
  .refine((b) => b.from < b.to, { message: 'from must be before to', path: ['from'] });

/** Backups and the metric archive for admins: each a call to the backup or the storage service. */
export function backupRoutes(calls: ServiceCaller): RouteSpec[] {
  return [
    route({ method: 'get', path: '/backups', access: 'admin', tag: 'backups', summary: 'List backups and archive files', handle: ({ res }) => calls.answer(res, 'backup', CALLS.backupList, {}) }),
    route({
      method: 'post',
      path: '/backups',
      access: 'admin',
      tag: 'backups',
      summary: 'Start a backup now',
      audit: 'backup-start',
      body: z.strictObject({ kind: z.enum(['full', 'incremental']).default('full'), includeArchives: z.boolean().default(false) }),
      responses: { 202: 'queued' },
      handle: ({ body, res, principal }) => calls.answer(res, 'backup', CALLS.backupRun, { ...body, requestedBy: principal!.subject }, 202),
    }),
    route({
      method: 'post',
      path: '/backups/:id/restore',
      access: 'admin',
      tag: 'backups',
      summary: 'Restore a backup (its whole chain verified first) into the live database, or into another database for a drill',
      audit: 'backup-restore',
      params: BackupId,
      body: z.strictObject({
        /** Restoring the live database replaces rows; say so explicitly. */
        confirm: z.literal(true, { error: 'set confirm: true to restore' }),
        intoDatabase: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a database name on the same server').optional(),
      }),
      responses: { 202: 'queued; follow GET /backups/jobs/{jobId}', 404: 'no such backup', 422: 'damaged: refused before anything was touched' },
      handle: ({ params, body, res, principal }) =>
        calls.answer(res, 'backup', CALLS.backupRestore, { id: params.id, ...(body.intoDatabase ? { intoDatabase: body.intoDatabase } : {}), requestedBy: principal!.subject }, 202),
    }),
    route({
      method: 'get',
      path: '/backups/jobs/:jobId',
      access: 'admin',
      tag: 'backups',
      summary: 'State and progress (rows and bytes per table) of a backup or restore job',
      params: z.object({ jobId: z.string().regex(/^[A-Za-z0-9_:-]{1,100}$/, 'a job id') }),
      responses: { 200: 'the job', 404: 'no such job' },
      handle: ({ params, res }) => calls.answer(res, 'backup', CALLS.backupJob, { jobId: params.jobId }),
    }),
    route({
      method: 'post',
      path: '/backups/:id/verify',
      access: 'admin',
      tag: 'backups',
      summary: 'Verify a backup completely without restoring it',
      audit: 'backup-verify',
      params: BackupId,
      responses: { 200: 'verified', 404: 'no such backup', 422: 'damaged' },
      handle: ({ params, res }) => calls.answer(res, 'backup', CALLS.backupVerify, { id: params.id }),
    }),
    route({ method: 'get', path: '/archives', access: 'admin', tag: 'backups', summary: 'Ranges of metric history moved to the archive by retention, per tier', handle: ({ res }) => calls.answer(res, 'storage', CALLS.archiveList, {}) }),
    route({
      method: 'post',
      path: '/archives/load',
      access: 'admin',
      tag: 'backups',
      summary: 'Load the archived rows of a tier between from and to (ISO-8601 or epoch ms) back into the history; rows already present are skipped',
      audit: 'archive-load',
      body: ArchiveLoadBody,
      responses: { 200: 'loaded: rows and files' },
      handle: ({ body, res, principal }) => calls.answer(res, 'storage', CALLS.archiveLoad, { ...body, requestedBy: principal!.subject }),
    }),
  ];
}
