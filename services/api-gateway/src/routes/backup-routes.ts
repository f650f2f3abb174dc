import { Router } from 'express';
import { z } from 'zod';
import { CALLS, type Bus } from '@terminusa/bus';
import { authOf } from '../auth/require-token.ts';
import { requireRole } from '../auth/require-role.ts';
import { callService } from '../http/call-service.ts';
import { parseOr400 } from '../http/request-errors.ts';

const BackupId = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'a backup id') });
const StartBody = z.strictObject({ kind: z.enum(['full', 'incremental']).default('full'), includeArchives: z.boolean().default(false) });

/** Backups for admins: list, start one now, verify one; each a call to the backup service. */
export function backupRoutes(bus: Bus, timeoutMs: number): Router {
  const router = Router();
  router.use('/backups', requireRole('admin'));

  router.get('/backups', (_req, res) => callService(bus, CALLS.backupList, {}, timeoutMs, res, 'backup'));

  router.post('/backups', async (req, res) => {
    const body = parseOr400(StartBody, req.body ?? {}, res);
    if (!body) return;
    await callService(bus, CALLS.backupRun, { ...body, requestedBy: authOf(res).subject }, timeoutMs, res, 'backup', 202);
  });

  router.post('/backups/:id/verify', async (req, res) => {
    const params = parseOr400(BackupId, req.params, res);
    if (!params) return;
    await callService(bus, CALLS.backupVerify, { id: params.id }, timeoutMs, res, 'backup');
  });
  return router;
}
