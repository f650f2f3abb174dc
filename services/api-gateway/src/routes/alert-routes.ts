import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { MatcherSchema, matchesAll, RuleSchema, SEVERITIES, type PgAlertStore, type RedisAlertReader } from '@terminusa/alerting';
import { CALLS, SUBJECTS, TAG_KEY, type Bus } from '@terminusa/bus';
import { authOf } from '../auth/require-token.ts';
import { requireRole } from '../auth/require-role.ts';
import { callService } from '../http/call-service.ts';
import { parseOr400 } from '../http/request-errors.ts';

const DAY_MS = 86_400_000;
const Time = z.string().transform((text, ctx) => {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO-8601 time' });
    return z.NEVER;
  }
  return ms;
});
const ActiveQuery = z.object({ severity: z.enum(SEVERITIES).optional(), state: z.enum(['pending', 'firing']).optional() });
const HistoryQuery = z.object({
  from: Time.optional(),
  to: Time.optional(),
  severity: z.enum(SEVERITIES).optional(),
  rule: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** The `next` cursor of the previous page. */
  before: z.string().regex(/^\d+_[0-9a-f-]{36}$/, 'a cursor from a previous page').optional(),
});
const AlertId = z.object({ id: z.string().uuid('an alert id') });
const AckBody = z.strictObject({ comment: z.string().max(2000).optional() });
const RuleName = z.object({ name: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, 'a rule name') });
const SilenceBody = z
  .strictObject({
    matchers: z.array(MatcherSchema).min(1, 'at least one matcher'),
    startsAt: Time.optional(),
    endsAt: Time.optional(),
    /** Seconds from the start, instead of endsAt. */
    duration: z.number().int().positive().max(90 * 86_400).optional(),
    comment: z.string().min(1, 'say why').max(2000),
  })
  .refine((s) => s.endsAt !== undefined || s.duration !== undefined, { message: 'give endsAt or duration', path: ['endsAt'] });
const SilenceId = z.object({ id: z.string().uuid('a silence id') });

function labelQuery(req: Request): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) if (k.startsWith('label.') && typeof v === 'string') labels[k.slice(6)] = v;
  return labels;
}

/** The seed's alert endpoints plus rules and silences: reads for every role, changes for operators. */
export function alertRoutes(deps: { bus: Bus; reader: RedisAlertReader; store: PgAlertStore; callTimeoutMs: number }): Router {
  const router = Router();
  const changed = (what: 'rules' | 'silences', by: string) => deps.bus.publish(SUBJECTS.alertConfigChanged, [], { what, by });

  router.get('/alerts/active', async (req, res) => {
    const q = parseOr400(ActiveQuery, req.query, res);
    const labels = q && parseOr400(z.record(z.string().regex(TAG_KEY), z.string()), labelQuery(req), res);
    if (!q || !labels) return;
    const alerts = (await deps.reader.active()).filter(
      (a) => (!q.severity || a.severity === q.severity) && (!q.state || a.state === q.state) && Object.entries(labels).every(([k, v]) => a.labels[k] === v),
    );
    res.json({ alerts });
  });

  router.get('/alerts/history', async (req, res) => {
    const q = parseOr400(HistoryQuery, req.query, res);
    if (!q) return;
    const to = q.to ?? Date.now();
    const before = q.before ? { at: Number(q.before.split('_')[0]), id: q.before.split('_')[1]! } : undefined;
    const { alerts } = await deps.store.history({ from: q.from ?? to - DAY_MS, to, limit: q.limit, ...(q.severity ? { severity: q.severity } : {}), ...(q.rule ? { rule: q.rule } : {}), ...(before ? { before } : {}) });
    const last = alerts.at(-1);
    res.json({ alerts, next: alerts.length === q.limit && last ? `${last.startsAt}_${last.id}` : null });
  });

  router.post('/alerts/:id/ack', requireRole('operator'), async (req, res) => {
    const params = parseOr400(AlertId, req.params, res);
    const body = params && parseOr400(AckBody, req.body ?? {}, res);
    if (!params || !body) return;
    await callService(deps.bus, CALLS.alertAck, { id: params.id, by: authOf(res).subject, ...(body.comment ? { comment: body.comment } : {}) }, deps.callTimeoutMs, res, 'alert-manager');
  });

  router.get('/rules', async (_req, res) => {
    res.json({ rules: await deps.store.rules() });
  });

  const saveRule = async (req: Request, res: Parameters<Parameters<typeof router.post>[1]>[1], name?: string) => {
    const input = name ? { ...(req.body ?? {}), name } : req.body;
    const rule = parseOr400(RuleSchema, input, res);
    if (!rule) return;
    const outcome = await deps.store.saveRule(rule, input, authOf(res).subject);
    if (outcome === 'file-rule') return void res.status(409).json({ error: `rule ${rule.name} is defined in the rules file; change it there` });
    changed('rules', authOf(res).subject);
    res.status(outcome === 'created' ? 201 : 200).json({ rule });
  };
  router.post('/rules', requireRole('operator'), (req, res) => saveRule(req, res));
  router.put('/rules/:name', requireRole('operator'), async (req, res) => {
    const params = parseOr400(RuleName, req.params, res);
    if (params) await saveRule(req, res, params.name);
  });
  router.delete('/rules/:name', requireRole('operator'), async (req, res) => {
    const params = parseOr400(RuleName, req.params, res);
    if (!params) return;
    const outcome = await deps.store.deleteRule(params.name);
    if (outcome === 'missing') return void res.status(404).json({ error: `no rule ${params.name}` });
    if (outcome === 'file-rule') return void res.status(409).json({ error: `rule ${params.name} is defined in the rules file; change it there` });
    changed('rules', authOf(res).subject);
    res.status(204).end();
  });

  router.get('/silences', async (_req, res) => {
    res.json({ silences: await deps.store.silences() });
  });
  router.post('/silences', requireRole('operator'), async (req, res) => {
    const body = parseOr400(SilenceBody, req.body, res);
    if (!body) return;
    const startsAt = body.startsAt ?? Date.now();
    const endsAt = body.endsAt ?? startsAt + body.duration! * 1000;
    if (endsAt <= startsAt) return void res.status(400).json({ error: 'invalid request', fields: [{ field: 'endsAt', reason: 'must be after startsAt' }] });
    const silence = { id: randomUUID(), matchers: body.matchers, startsAt, endsAt, comment: body.comment, createdBy: authOf(res).subject };
    await deps.store.addSilence(silence);
    changed('silences', authOf(res).subject);
    const silenced = (await deps.reader.active()).filter((a) => matchesAll(silence.matchers, a.labels)).map((a) => a.id);
    res.status(201).json({ silence, matchesActive: silenced });
  });
  router.delete('/silences/:id', requireRole('operator'), async (req, res) => {
    const params = parseOr400(SilenceId, req.params, res);
    if (!params) return;
    if (!(await deps.store.expireSilence(params.id))) return void res.status(404).json({ error: `no active silence ${params.id}` });
    changed('silences', authOf(res).subject);
    res.status(204).end();
  });
  return router;
}
